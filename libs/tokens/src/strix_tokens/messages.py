"""Subjects and payloads of the strix-auth NATS micro service, shared by the service and its callers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

AUTH_SERVICE = "strix-auth"
AUTH_JWKS = "auth.jwks"
AUTH_TOKEN_DEV = "auth.token.dev"
AUTH_TOKEN_REFRESH = "auth.token.refresh"
AUTH_SIGNOUT = "auth.signout"
AUTH_SIGNING_ROTATE = "auth.signing.rotate"
AUTH_KEYS_CREATE = "auth.keys.create"
AUTH_KEYS_LIST = "auth.keys.list"
AUTH_KEYS_REVOKE = "auth.keys.revoke"
AUTH_KEYS_VERIFY = "auth.keys.verify"
AUTH_CONFIG = "auth.config"
AUTH_OIDC_BEGIN = "auth.oidc.begin"
AUTH_OIDC_COMPLETE = "auth.oidc.complete"


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DevSignIn(_Message):
    user: str = Field(min_length=1, max_length=200, description="Who the development sign-in is for.")
    roles: list[str] = Field(default_factory=list, description="Strix roles the token carries.")
    scopes: list[str] = Field(default_factory=lambda: ["read", "write"], description="Scopes the token carries.")
    attributes: dict[str, list[str]] = Field(default_factory=dict, description="Claims row filters bind to.")


class TokenPair(_Message):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="Seconds the access token is valid.")
    refresh_token: str = Field(description="Opaque; exchange it at auth.token.refresh, once.")
    refresh_expires_in: int


class RefreshRequest(_Message):
    refresh_token: str = Field(max_length=200)


class SignedOut(_Message):
    revoked: bool = True


class Rotated(_Message):
    kid: str = Field(description="The key that signs from now on.")
    kept: list[str] = Field(description="Retired keys still published for tokens in flight.")


class ApiKeyCreate(_Message):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(description="read, write, admin or read:<module>.")
    roles: list[str] = Field(default_factory=list, description="Roles module access rules see.")
    attributes: dict[str, list[str]] = Field(default_factory=dict, description="Claims row filters bind to.")


class ApiKeyInfo(_Message):
    """What is shown of a key after its creation: never its secret."""

    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = None
    roles: list[str] = Field(default_factory=list)
    attributes: dict[str, list[str]] = Field(default_factory=dict)


class ApiKeyCreated(ApiKeyInfo):
    key: str = Field(description="The full key, shown this once: it is stored only as a hash.")


class ApiKeyList(_Message):
    keys: list[ApiKeyInfo]


class ApiKeyRef(_Message):
    id: str = Field(max_length=64)


class ApiKeyVerify(_Message):
    key: str = Field(max_length=200)


class ApiKeyVerified(_Message):
    id: str
    name: str = ""  # the key's label, shown where its id would mean nothing to people
    scopes: list[str]
    roles: list[str] = Field(default_factory=list)
    attributes: dict[str, list[str]] = Field(default_factory=dict)


class SignInConfig(_Message):
    """What sign-in this installation offers: the UI's sign-in page is drawn from it."""

    provider: str | None = Field(description="Display name of the OpenID Connect provider; None: no SSO.")
    dev_sign_in: bool = Field(description="Whether the built-in development sign-in is on (embedded mode).")


class OidcBegin(_Message):
    return_to: str = Field(default="/", max_length=2000, description="Path of this site to return to.")
    redirect_uri: str = Field(max_length=2000, description="This site's callback URL, registered at the provider.")


class OidcRedirect(_Message):
    authorize_url: str = Field(description="Where to send the browser: the provider's authorization endpoint.")


class OidcCallback(_Message):
    """The query parameters the provider sent the browser back with."""

    state: str | None = Field(default=None, max_length=200)
    code: str | None = Field(default=None, max_length=4000)
    iss: str | None = Field(default=None, max_length=2000, description="RFC 9207: the provider that answered.")
    error: str | None = Field(default=None, max_length=200)
    error_description: str | None = Field(default=None, max_length=2000)


class SignedIn(_Message):
    tokens: TokenPair
    subject: str
    return_to: str
