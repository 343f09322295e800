"""Who is asking: the identity every door (gateway, ingestion) verifies and every data service enforces.

A `Caller` is built once, at the door, from a verified credential — a Strix access token (a signed-in user), an API
key, or a dashboard's public link — and travels with each request over NATS. The query service decides from it
which modules the caller may read and which row filters of a module's `access` section bind it; nothing
downstream trusts a caller it did not get from a door (NATS credentials keep anyone else off the query subjects).

Two independent checks, both must pass:
- *scopes* say what kind of action the credential permits: `read` (every module), `read:<module>` (that one),
  `write` (post events), `admin` (everything, including other people's dashboards and API keys);
- *roles* say which modules' `access` rules admit the caller and which row filters apply (see strix_config).

`attributes` are the claims row filters are bound to (say `brand: ["acme"]`), mapped from the provider's claims
at sign-in or stored with an API key. A missing attribute never widens access: a filter bound to it matches
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from strix_contracts.errors import Forbidden

CallerKind = Literal["user", "api_key", "public_link"]
SCOPES = ("read", "write", "admin")
ADMIN = "admin"


class Caller(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field(min_length=1, max_length=256)  # the user's `sub`, `apikey:<id>`, or `link:<dashboard>`
    kind: CallerKind
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    attributes: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # A public link reads exactly the panels of one dashboard: the query service admits only those modules.
    dashboard: str | None = None
    # An API key's name, shown to people where the key's id would mean nothing (a dashboard's owner); empty else.
    name: str = Field(default="", max_length=200)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.scopes

    def may(self, action: str, module: str | None = None) -> bool:
        return allows(self.scopes, action, module)

    def require(self, action: str, module: str | None = None) -> None:
        """Refuse, naming what is missing, unless the scopes permit `action` on `module`."""
        if not self.may(action, module):
            target = f" module {module!r}" if module else ""
            raise Forbidden(
                f"{self.subject} may not {action}{target}",
                argument="module" if module else None,
                hint=f"the credential needs the scope {action}" + (f" or {action}:{module}" if module else ""),
            )


def allows(scopes: Sequence[str], action: str, module: str | None = None) -> bool:
    """Whether `scopes` permit `action` ("read", "write", "admin") on `module`: admin permits all, `read`
    permits reading every module, `read:<module>` that module only."""
    if ADMIN in scopes:
        return True
    if action == "read":
        return "read" in scopes or (module is not None and f"read:{module}" in scopes)
    return action in scopes
