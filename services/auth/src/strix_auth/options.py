"""StrixSettings -> the auth service's options, read once by the composition root (the CLI).

The development sign-in lets anyone sign in as anyone. It is on by default only in embedded mode (`strix up` with
the NATS server it starts itself: one developer's machine); anywhere else it must be asked for by name
(`STRIX_DEV_SIGN_IN=true`). `strix up --nats-url` against a shared NATS server is not embedded: there the default
would silently open the door, so starting is refused with what to set instead.
"""

from __future__ import annotations

from strix_auth.app import AuthOptions
from strix_auth.oidc import OidcSettings
from strix_runtime.settings import StrixSettings


class AuthSettingsError(ValueError):
    """Settings the auth service refuses to start with; the message says what to set."""


def dev_sign_in_enabled(setting: bool | None, *, embedded: bool, default_on: bool) -> bool:
    """Whether the development sign-in is on. `setting` is STRIX_DEV_SIGN_IN (None: unset); `default_on` is true
    for `strix up`, whose default is on, but only while `embedded`."""
    if setting is not None:
        return setting
    if not default_on:
        return False
    if not embedded:
        raise AuthSettingsError(
            "the development sign-in is on by default for `strix up`, but this platform is not embedded (it uses "
            "an external NATS server): set STRIX_DEV_SIGN_IN=true to allow it there explicitly, or "
            "STRIX_DEV_SIGN_IN=false and configure STRIX_OIDC_ISSUER"
        )
    return True


def oidc_settings(settings: StrixSettings) -> OidcSettings | None:
    if settings.oidc_issuer is None:
        return None
    if not settings.oidc_client_id:
        raise AuthSettingsError("STRIX_OIDC_ISSUER is set but STRIX_OIDC_CLIENT_ID is not")
    if "openid" not in settings.oidc_scopes:
        raise AuthSettingsError("STRIX_OIDC_SCOPES must include openid (no ID token without it)")
    secret = settings.oidc_client_secret
    return OidcSettings(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=secret.get_secret_value() if secret else None,
        name=settings.oidc_name,
        scopes=tuple(settings.oidc_scopes),
        roles=settings.oidc_roles,
        default_roles=tuple(settings.oidc_default_roles),
        attributes=settings.oidc_attributes,
        default_scopes=tuple(settings.auth_default_scopes),
        role_scopes=settings.auth_role_scopes,
    )


def auth_options(settings: StrixSettings, *, embedded: bool, default_dev_sign_in: bool) -> AuthOptions:
    return AuthOptions(
        dev_sign_in=dev_sign_in_enabled(settings.dev_sign_in, embedded=embedded, default_on=default_dev_sign_in),
        oidc=oidc_settings(settings),
    )


def sign_in_help(url: str, options: AuthOptions) -> str:
    """What `strix up` prints: how to sign in here, and how to get an API key."""
    lines = []
    if options.oidc is not None:
        lines.append(f"Sign in with {options.oidc.name}: open {url}/auth/login (the web UI's sign-in page does).")
    if options.dev_sign_in:
        lines += [
            "Development sign-in is ON (embedded mode: anyone reaching this port may sign in as anyone):",
            f"  curl -s -X POST {url}/auth/dev -H 'content-type: application/json' "
            '-d \'{"user": "me", "scopes": ["read", "write", "admin"]}\'',
            "  then send `Authorization: Bearer <access_token>`; the GraphiQL playground signs you in by itself.",
        ]
    if not lines:
        lines.append("No sign-in is configured: set STRIX_OIDC_ISSUER and STRIX_OIDC_CLIENT_ID (README, Sign-in).")
    lines.append(
        f"API keys (admin): curl -s -X POST {url}/auth/keys -H 'authorization: Bearer <admin token>' "
        '-H \'content-type: application/json\' -d \'{"name": "producer", "scopes": ["write"]}\''
    )
    return "\n".join(lines)
