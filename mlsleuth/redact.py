"""Secret redaction shared by the collector, the parsers and the watch agent.

A secret never leaves the host in clear by default. What stays is its *presence* and a short
*fingerprint*: ``REDACTED:sha256:<first 12 hex of sha256(secret)>``. The same secret gives the
same fingerprint everywhere (an HF token in ``~/.cache/huggingface/token``, in a process
environment and in a shell history line), so an examiner can still tell that two places hold the
same credential, or match it against a token the owner reports, without ever seeing it.

Twelve hex digits (48 bits) are enough to match a known secret and too few to recover a
high-entropy one; a weak password can still be confirmed by guessing, as with any hash.

Everything works on ``str``; bytes of unknown encoding go through :func:`redact_bytes`, which
decodes as Latin-1 so every byte survives the round trip unchanged except the secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from hashlib import sha256

PREFIX = "REDACTED:sha256:"
FINGERPRINT_HEX = 12
_FINGERPRINT = re.compile(r"REDACTED:sha256:[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class Redaction:
    """One secret taken out: what kind, its fingerprint, and where it was (line, key, variable)."""

    kind: str
    fingerprint: str
    where: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def fingerprint(secret: str | bytes) -> str:
    """``REDACTED:sha256:<12 hex>`` of the secret (str is hashed as UTF-8, surrogates kept)."""
    data = secret.encode("utf-8", "surrogateescape") if isinstance(secret, str) else secret
    return PREFIX + sha256(data).hexdigest()[:FINGERPRINT_HEX]


def is_fingerprint(value: str) -> bool:
    return bool(_FINGERPRINT.fullmatch(value))


# -- URLs ------------------------------------------------------------------------------------------

# scheme://user:password@host  or  scheme://token@host. The userinfo may not hold '/', '@' or space.
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@\s:'\"<>]*)(?::(?P<password>[^/@\s'\"<>]*))?@"
)
# A user name alone is kept unless it looks like a token (long, with digits): https://ghp_x@github.com
_TOKEN_LIKE = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-.~%+]{16,}$")
# anaconda.org channel tokens live in the path: https://conda.anaconda.org/t/<token>/channel
_CONDA_TOKEN = re.compile(r"(?P<pre>/t/)(?P<secret>[A-Za-z0-9_-]{8,})(?=/)")
_QUERY_SECRET = re.compile(
    r"(?P<pre>[?&](?:token|access_token|api_key|apikey|key|password|auth|sig|signature)=)"
    r"(?P<secret>[^&#\s'\"<>]{6,})",
    re.IGNORECASE,
)


def _sub_url_userinfo(text: str, found: list[Redaction], where: str) -> str:
    def repl(m: re.Match[str]) -> str:
        user, password = m.group("user"), m.group("password")
        if is_fingerprint(f"{user}:{password}") or PREFIX in (password or ""):
            return m.group(0)  # already redacted (a token used as user name, then fingerprinted)
        if password is not None and password != "" and not is_fingerprint(password):
            found.append(Redaction("url_password", fingerprint(password), where))
            return f"{m.group('scheme')}{user}:{fingerprint(password)}@"
        if password is None and _TOKEN_LIKE.match(user) and not is_fingerprint(user):
            found.append(Redaction("url_token", fingerprint(user), where))
            return f"{m.group('scheme')}{fingerprint(user)}@"
        return m.group(0)

    return _URL_USERINFO.sub(repl, text)


def redact_url(url: str) -> tuple[str, list[Redaction]]:
    """The URL with a password (or a token used as user name) replaced by its fingerprint.

    The scheme, user name, host and path stay: which index a package came from is evidence.
    """
    found: list[Redaction] = []
    out = _sub_url_userinfo(url, found, "url")
    out = _sub_pattern(out, _CONDA_TOKEN, "conda_token", found, "url")
    out = _sub_pattern(out, _QUERY_SECRET, "url_query_secret", found, "url")
    return out, found


# -- free text (histories, rc files, notebooks, configs) -------------------------------------------

# Token formats with a recognisable prefix. Built from pieces so that this module never holds
# anything that looks like a real credential.
_KNOWN_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("hf_token", re.compile(r"(?<![A-Za-z0-9_])(?:hf|api_org)_[A-Za-z0-9]{30,}")),
    ("github_token", re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("gitlab_token", re.compile(r"(?<![A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,}")),
    ("openai_key", re.compile(r"(?<![A-Za-z0-9_])sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}")),
    ("aws_access_key", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("slack_token", re.compile(r"(?<![A-Za-z0-9_])xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("pypi_token", re.compile(r"(?<![A-Za-z0-9_])pypi-[A-Za-z0-9_-]{40,}")),
    ("private_key", re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----")),
)
# export OPENAI_API_KEY=...  /  HF_TOKEN="..."  (upper-case, environment style names)
_ENV_ASSIGN = re.compile(
    r"(?P<pre>\b[A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY|AUTH)"
    r"[A-Z0-9_]*=[\"']?)(?P<secret>[^\s\"';&|]{8,})"
)
# Authorization: Bearer <x>  /  -H "Authorization: token <x>"
_AUTH_HEADER = re.compile(
    r"(?P<pre>\bAuthorization:\s*(?:Bearer|token|Basic)\s+)(?P<secret>[A-Za-z0-9._~+/=-]{8,})",
    re.IGNORECASE,
)
# --token X / --password=X / --api-key X on a command line
_CLI_FLAG = re.compile(
    r"(?P<pre>--(?:token|password|passwd|api[-_]key|secret|access[-_]token|hf[-_]token)[= ]+[\"']?)"
    r"(?P<secret>[^\s\"']{6,})",
    re.IGNORECASE,
)
# key = value lines of INI/YAML/netrc-like configs (pypirc, stored_tokens, condarc, .npmrc ...)
_KEY_VALUE = re.compile(
    r"(?P<pre>^[ \t]*[\w.-]*(?:password|passwd|token|secret|api[_-]?key|access[_-]?key|client[_-]?secret)"
    r"[\w.-]*[ \t]*[=:][ \t]*[\"']?)(?P<secret>[^\s\"'#][^\"'\r\n]*?)(?=[\"']?[ \t]*\r?$)",
    re.IGNORECASE | re.MULTILINE,
)


def _sub_pattern(text: str, pattern: re.Pattern[str], kind: str, found: list[Redaction],
                 where: str) -> str:
    def repl(m: re.Match[str]) -> str:
        secret = m.group("secret") if "secret" in pattern.groupindex else m.group(0)
        if is_fingerprint(secret) or secret.startswith(PREFIX):
            return m.group(0)
        found.append(Redaction(kind, fingerprint(secret), where))
        pre = m.group("pre") if "pre" in pattern.groupindex else ""
        return pre + fingerprint(secret)

    return pattern.sub(repl, text)


def redact_text(text: str, *, where: str = "", key_values: bool = False) -> tuple[str, list[Redaction]]:
    """Credentials inside free text replaced by their fingerprints.

    Covers URL credentials, token formats with a known prefix (Hugging Face, GitHub, GitLab,
    OpenAI, AWS, Slack, PyPI), PEM private keys, ``NAME_TOKEN=...`` style assignments,
    ``Authorization:`` headers and ``--token``/``--password`` flags. ``key_values`` also redacts
    the value of ``password = ...``/``token: ...`` lines (INI/YAML configs); it is off for code
    and notebooks, where ``pad_token = "<pad>"`` is not a secret.
    """
    found: list[Redaction] = []
    out = text
    for kind, pattern in _KNOWN_TOKENS:
        out = _sub_pattern(out, pattern, kind, found, where)
    out = _sub_url_userinfo(out, found, where)
    out = _sub_pattern(out, _CONDA_TOKEN, "conda_token", found, where)
    out = _sub_pattern(out, _QUERY_SECRET, "url_query_secret", found, where)
    out = _sub_pattern(out, _AUTH_HEADER, "authorization_header", found, where)
    out = _sub_pattern(out, _CLI_FLAG, "command_line_secret", found, where)
    out = _sub_pattern(out, _ENV_ASSIGN, "environment_secret", found, where)
    if key_values:
        out = _sub_pattern(out, _KEY_VALUE, "config_secret", found, where)
    return out, found


_SECRET_FLAG = re.compile(
    r"^--?(?:token|password|passwd|pass|api[-_]?key|secret|access[-_]?token|hf[-_]token|auth[-_]?token)$",
    re.IGNORECASE,
)


def redact_argv(argv: Iterable[str]) -> tuple[list[str], list[Redaction]]:
    """A command line (list of arguments) with credentials replaced: ``--token X`` (two
    arguments), ``--token=X``, URL passwords and every token format :func:`redact_text` knows."""
    out: list[str] = []
    found: list[Redaction] = []
    secret_next = False
    for i, arg in enumerate(argv):
        where = f"argv[{i}]"
        if secret_next and arg and not is_fingerprint(arg):
            fp = fingerprint(arg)
            found.append(Redaction("command_line_secret", fp, where))
            out.append(fp)
            secret_next = False
            continue
        secret_next = bool(_SECRET_FLAG.match(arg))
        clean, more = redact_text(arg, where=where)
        out.append(clean)
        found.extend(more)
    return out, found


# -- whole files and structured formats ------------------------------------------------------------

def redact_whole(text: str, kind: str = "secret_file") -> tuple[str, list[Redaction]]:
    """A file that is nothing but a secret (HF ``token``, an SSH private key): fingerprint only."""
    secret = text.strip()
    if not secret:
        return text, []
    fp = fingerprint(secret)
    return fp + "\n", [Redaction(kind, fp, "file")]


_NETRC_SECRET = re.compile(r"(?P<pre>\b(?:password|account)\s+)(?P<secret>\S+)")


def redact_netrc(text: str) -> tuple[str, list[Redaction]]:
    """``.netrc``: machine and login names stay (which hosts have credentials), passwords go."""
    found: list[Redaction] = []
    out = _sub_pattern(text, _NETRC_SECRET, "netrc_password", found, "password")
    return out, found


_SECRET_JSON_KEYS = frozenset({"key", "token", "password", "hashed_password", "secret", "api_key",
                               "access_token", "hf_token"})


def redact_json(text: str, keys: Iterable[str] = _SECRET_JSON_KEYS,
                kind: str = "json_secret") -> tuple[str, list[Redaction]]:
    """Values of the named keys (at any depth) replaced, e.g. a Jupyter kernel file's HMAC ``key``.

    Text that is not JSON falls back to :func:`redact_text` with key/value lines, so a truncated
    file still loses its secrets.
    """
    wanted = {k.lower() for k in keys}
    found: list[Redaction] = []
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        keys_rx = re.compile(r'(?P<pre>"(?:' + "|".join(re.escape(k) for k in sorted(wanted)) +
                             r')"\s*:\s*")(?P<secret>[^"\\]+)', re.IGNORECASE)
        out = _sub_pattern(text, keys_rx, kind, found, "text")
        out, more = redact_text(out, where="text", key_values=True)
        return out, found + more

    def walk(node: object, path: str) -> object:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                here = f"{path}.{k}" if path else str(k)
                if str(k).lower() in wanted and isinstance(v, str) and v and not is_fingerprint(v):
                    fp = fingerprint(v)
                    found.append(Redaction(kind, fp, here))
                    out[k] = fp
                else:
                    out[k] = walk(v, here)
            return out
        if isinstance(node, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(node)]
        if isinstance(node, str):
            clean, more = redact_text(node, where=path)
            found.extend(more)
            return clean
        return node

    clean = walk(doc, "")
    if not found:
        return text, []
    return json.dumps(clean, indent=1, ensure_ascii=False) + "\n", found


# c.ServerApp.token = '...'  /  c.NotebookApp.password = 'argon2:...'  (Jupyter *_config.py)
_JUPYTER_PY = re.compile(
    r"(?P<pre>^[ \t]*c\.\w+\.(?:token|password|hashed_password|password_hash|cookie_secret|"
    r"identity_provider_token)\s*=\s*[ubrf]*[\"'])(?P<secret>[^\"'\r\n]+)",
    re.MULTILINE,
)


def redact_jupyter_config(text: str) -> tuple[str, list[Redaction]]:
    """Jupyter server/notebook config (.py or .json): token, password hash, cookie secret."""
    if text.lstrip().startswith("{"):
        return redact_json(text, kind="jupyter_config_secret")
    found: list[Redaction] = []
    out = _sub_pattern(text, _JUPYTER_PY, "jupyter_config_secret", found, "config")
    out, more = redact_text(out, where="config")
    return out, found + more


def _text_handler(text: str) -> tuple[str, list[Redaction]]:
    return redact_text(text)


def _ini_handler(text: str) -> tuple[str, list[Redaction]]:
    return redact_text(text, key_values=True)


# Names an artifact definition may give in ``secrets: [{handler: ...}]``.
HANDLERS: dict[str, Callable[[str], tuple[str, list[Redaction]]]] = {
    "whole": redact_whole,
    "text": _text_handler,
    "ini": _ini_handler,
    "netrc": redact_netrc,
    "json": redact_json,
    "jupyter_config": redact_jupyter_config,
}


def redact_bytes(data: bytes, handler: str) -> tuple[bytes, list[Redaction]]:
    """Apply a named handler to raw bytes; bytes that are not secrets come back unchanged.

    Latin-1 maps every byte to one code point, so any encoding (or none) survives the round trip.
    Fingerprints are computed on the Latin-1 text, which equals the UTF-8 bytes' hash only for
    ASCII secrets; every token format above is ASCII.
    """
    try:
        fn = HANDLERS[handler]
    except KeyError:
        raise ValueError(f"unknown redaction handler {handler!r}; known: {sorted(HANDLERS)}") from None
    text = data.decode("latin-1")
    out, found = fn(text)
    if not found:
        return data, []
    return out.encode("latin-1", "replace"), found


# -- process environments --------------------------------------------------------------------------

# Variables whose values are evidence and not secrets. Anything else is fingerprinted.
ENV_ALLOW_EXACT = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "LANG", "LANGUAGE", "TZ", "TERM",
    "HOSTNAME", "DISPLAY", "VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT", "PYTHONPATH", "PYTHONHOME",
    "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONNOUSERSITE", "PYTHONSAFEPATH", "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "SSH_CONNECTION", "SSH_CLIENT",
    "SSH_TTY", "SUDO_USER", "SUDO_UID", "SUDO_COMMAND", "MAIL", "TMPDIR", "KERAS_HOME", "TORCH_HOME",
    "TFHUB_CACHE_DIR", "TRANSFORMERS_CACHE", "MLFLOW_TRACKING_URI", "NETRC", "HISTFILE", "ZDOTDIR",
    "IPYTHONDIR", "CONDARC", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "HTTP_PROXY", "HTTPS_PROXY",
    "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "ALL_PROXY", "all_proxy",
})
ENV_ALLOW_PREFIXES = ("HF_", "HUGGINGFACE_", "CUDA_", "NVIDIA_", "TRANSFORMERS_", "TORCH_", "PIP_",
                      "CONDA_", "JUPYTER_", "JPY_", "OLLAMA_", "TF_", "KERAS_", "XDG_", "LC_",
                      "OMP_", "MKL_", "NCCL_", "UV_", "WANDB_", "MLFLOW_")
# Even allow-listed families carry credentials under these names (HF_TOKEN, JUPYTER_TOKEN,
# PIP_PASSWORD, WANDB_API_KEY ...): their values are always fingerprinted.
_ENV_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|AUTH|COOKIE|SESSION_KEY",
                              re.IGNORECASE)


def env_allowed(name: str) -> bool:
    if _ENV_SECRET_NAME.search(name):
        return False
    return name in ENV_ALLOW_EXACT or name.startswith(ENV_ALLOW_PREFIXES)


def redact_env(env: Mapping[str, str]) -> tuple[dict[str, str], list[Redaction]]:
    """A process environment fit for the archive.

    Allow-listed variables keep their value with any URL credential taken out (``PIP_INDEX_URL``
    keeps its host); every other value becomes its fingerprint, so the variable's presence and a
    matchable trace of its value remain (an ``HF_TOKEN`` gives the same fingerprint as the token
    file it was read from).
    """
    out: dict[str, str] = {}
    found: list[Redaction] = []
    for name, value in env.items():
        if env_allowed(name):
            clean, more = redact_text(value, where=name)
            out[name] = clean
            found.extend(more)
        elif value == "":
            out[name] = ""
        else:
            fp = fingerprint(value)
            out[name] = fp
            if _ENV_SECRET_NAME.search(name):
                found.append(Redaction("environment_secret", fp, name))
    return out, found
