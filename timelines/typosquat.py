"""Look-alike org and repo names: homoglyphs (Cyrillic/Greek letters, digits for letters, "rn"
for "m") and small edit distances against maintained lists of popular names (data/*.txt)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

# Characters that render like a Latin letter; digits that stand in for letters in squats.
_CONFUSABLE = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "і": "i", "ј": "j",
    "ԁ": "d", "ɡ": "g", "ӏ": "l", "ѕ": "s", "ԛ": "q", "ԝ": "w", "һ": "h", "к": "k", "м": "m",
    "т": "t", "в": "b", "н": "h",
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "τ": "t", "ι": "i", "κ": "k", "ε": "e",
    "0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "|": "l", "_": "-", ".": "-",
})
_MULTI = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("ii", "u"))


@dataclass(frozen=True)
class Squat:
    name: str
    imitates: str
    how: str  # "homoglyph" | "edit distance N"


def _load(name: str) -> tuple[str, ...]:
    text = resources.files("mlsleuth.timelines").joinpath("data", name).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@cache
def popular_orgs() -> tuple[str, ...]:
    return _load("popular_orgs.txt")


@cache
def popular_repos() -> tuple[str, ...]:
    return _load("popular_repos.txt")


def skeleton(name: str) -> str:
    s = unicodedata.normalize("NFKC", name).lower().translate(_CONFUSABLE)
    for a, b in _MULTI:
        s = s.replace(a, b)
    return s


def distance(a: str, b: str, limit: int = 3) -> int:
    """Optimal-string-alignment (Damerau) distance, stopping early beyond ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _allowed_distance(name: str) -> int:
    n = len(name)
    return 0 if n <= 4 else 1 if n <= 8 else 2


def _match(name: str, popular: tuple[str, ...]) -> Squat | None:
    low = name.lower()
    if any(low == p.lower() for p in popular):
        return None
    sk = skeleton(name)
    for p in popular:
        if sk == skeleton(p):
            return Squat(name, p, "homoglyph")
    for p in popular:
        limit = _allowed_distance(p)
        if limit and distance(low, p.lower(), limit) <= limit:
            return Squat(name, p, f"edit distance {distance(low, p.lower(), limit)}")
    return None


def check_repo(repo_id: str) -> Squat | None:
    """A repo id ("org/name") whose org or whole id imitates a popular one."""
    parts = repo_id.split("/")
    if len(parts) >= 2:
        hit = _match(parts[0], popular_orgs())
        if hit:
            return Squat(repo_id, f"{hit.imitates} (org)", hit.how)
    full = _match(repo_id, popular_repos())
    # a popular repo name under an unrelated org is a mirror, not a squat: only homoglyphs count
    if full and (full.how == "homoglyph" or len(parts) == 1 or
                 parts[0].lower() == full.imitates.split("/")[0].lower()):
        return full
    return None
