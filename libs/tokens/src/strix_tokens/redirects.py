"""Where a sign-in may send the browser back to: a path of this site, never another origin (open redirect).

`return_to` comes from a URL parameter anyone can craft (`/auth/login?return_to=...`); sending the browser to
whatever it names would let a phishing link start at Strix and end anywhere, signed in. Accepted: an absolute
path (`/dashboards/7?tab=a`). Refused: absolute URLs (`https://evil.test`), scheme-relative ones (`//evil.test`),
backslash tricks browsers read as `//` (`/\\evil.test`), and control characters.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from strix_contracts.errors import QueryError

MAX_RETURN_TO = 2000


def safe_return_to(value: str | None) -> str:
    """The path to return to after sign-in ("/" when none); an unsafe one is refused by name."""
    if not value:
        return "/"
    hint = "give a path of this site, such as /dashboards"
    if len(value) > MAX_RETURN_TO or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise QueryError("return_to is too long or holds control characters", argument="return_to", hint=hint)
    parts = urlsplit(value)
    if not value.startswith("/") or value.startswith(("//", "/\\")) or "\\" in value or parts.scheme or parts.netloc:
        raise QueryError(
            f"return_to {value[:100]!r} is not a path of this site (no redirects to other origins)",
            argument="return_to",
            hint=hint,
        )
    return value
