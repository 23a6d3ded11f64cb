"""Path globs for artifact definitions: ``*`` and ``?`` stay inside one path component, ``**``
spans any number of components, ``[...]`` is a character class, ``{a,b}`` an alternative.

The standard library's fnmatch lets ``*`` cross ``/`` and has no ``**`` or braces before 3.13,
which would make ``*.py`` match files at any depth; definitions need the stricter meaning.
"""

from __future__ import annotations

import re
from functools import lru_cache


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    depth = 0  # inside {...}
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1
                    out.append("(?:.*/)?")  # '**/' : zero or more whole components
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("!", "]") else i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\").replace("/", "") + "]")
                i = j
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    out.extend(")" * depth)
    return "".join(out)


@lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    return re.compile(_translate(pattern), re.DOTALL)


def match(pattern: str, path: str) -> bool:
    """Whether the relative ``path`` (``/``-separated) matches the whole ``pattern``."""
    return compile_glob(pattern).fullmatch(path) is not None


def match_any(patterns: tuple[str, ...] | list[str], path: str) -> bool:
    return any(compile_glob(p).fullmatch(path) is not None for p in patterns)


def has_magic(component: str) -> bool:
    return any(c in component for c in "*?[{")
