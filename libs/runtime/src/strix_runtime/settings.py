"""Settings shared by every Strix process. Precedence: command-line argument > STRIX_* environment > default.

Logic never reads these; the composition root passes plain values down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class StrixSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRIX_", extra="forbid", populate_by_name=True)

    config_dir: Path = Field(default=Path("configs"), description="Directory of module configs (*.yaml).")
    data_dir: Path = Field(default=Path(".strix"), description="Embedded mode: where NATS and chDB keep data.")
    nats_url: str | None = Field(default=None, description="NATS server; embedded mode starts its own when unset.")
    nats_port: int = Field(default=4222, description="Embedded mode: port of the NATS server it starts (-1: any).")
    nats_user: str | None = Field(
        default=None,
        description="Distributed mode: the NATS user this process connects as (strix-<service>, see deploy/nats); "
        "unset: no credentials. Embedded mode ignores it: each service connects as its own generated user.",
    )
    nats_password: SecretStr | None = Field(default=None, description="Password of nats_user (keep it in a secret).")
    clickhouse_url: str | None = Field(
        default=None, description="ClickHouse: http(s)://user:pass@host:port, or chdb:///path; embedded when unset."
    )
    clickhouse_database: str = Field(default="strix", description="ClickHouse database holding Strix tables.")
    host: str = Field(default="127.0.0.1", description="HTTP bind address.")
    port: int = Field(default=8000, description="HTTP port (0: any free port).")
    log_level: str = Field(default="info", description="debug, info, warning or error.")
    log_json: bool = Field(default=True, description="JSON log lines (false: human-readable).")
    access_log: bool = Field(default=True, description="One log line per HTTP request (uvicorn's access log).")
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIX_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OpenTelemetry collector, OTLP over HTTP (e.g. http://localhost:4318); spans are sent to "
        "<endpoint>/v1/traces. Read from STRIX_OTLP_ENDPOINT, else the standard OTEL_EXPORTER_OTLP_ENDPOINT; "
        "unset: no span leaves the process.",
    )
    # --- sign-in (the auth service; README "Sign-in") -----------------------------------------------------
    dev_sign_in: bool | None = Field(
        default=None,
        description="The built-in development sign-in (anyone may sign in as anyone). Unset: on in embedded mode "
        "(`strix up` with its own NATS server), off otherwise; true turns it on anywhere (never in production).",
    )
    public_url: str | None = Field(
        default=None,
        description="The site's external base URL (https://strix.example.com); the OpenID callback is "
        "<public_url>/auth/callback. Unset: taken from each request's own URL.",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="OpenID Connect provider's issuer, exactly as its discovery document says; unset: no SSO.",
    )
    oidc_client_id: str | None = Field(default=None, description="The client id Strix is registered under.")
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="The client secret (unset: a public client, PKCE alone)."
    )
    oidc_name: str = Field(default="OpenID Connect", description="The provider's name on the sign-in page.")
    oidc_scopes: list[str] = Field(
        default=["openid", "profile", "email"], description="Scopes requested from the provider (JSON list)."
    )
    oidc_roles: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict,
        description='Provider claims -> Strix roles, {claim: {value: [roles]}}, e.g. {"groups": {"strix-admins": '
        '["admin"]}}; a claim may be a dotted path (realm_access.roles).',
    )
    oidc_default_roles: list[str] = Field(default_factory=list, description="Roles every signed-in user holds.")
    oidc_attributes: dict[str, str] = Field(
        default_factory=dict,
        description='Provider claims -> caller attributes row filters bind to, {claim: attribute}, e.g. {"brand": '
        '"brand"}.',
    )
    auth_default_scopes: list[str] = Field(
        default=["read"], description="Scopes every signed-in user holds (read, write, admin, read:<module>)."
    )
    auth_role_scopes: dict[str, list[str]] = Field(
        default={"admin": ["admin"]}, description="Further scopes by role, {role: [scopes]}."
    )
    # --- the doors (README "Every door closed") -----------------------------------------------------------
    open_schema: bool | None = Field(
        default=None,
        description="Signed-out callers may introspect the GraphQL schema and open GraphiQL and the OpenAPI pages "
        "(/docs). Unset: on in embedded mode (`strix up` with its own NATS server), where GraphiQL opens signed in "
        "as the local developer; off otherwise.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API (the web UI's), a JSON list such as "
        '["https://strix.example.com"]; their preflights are answered. Unset: same-origin only.',
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token a scraper sends to read /metrics (keep it in a secret)."
    )
    metrics_networks: list[str] | None = Field(
        default=None,
        description='Networks (CIDR, JSON list) whose requests read /metrics without the token, e.g. ["10.0.0.0/8"]. '
        "Unset: loopback in embedded mode, none otherwise.",
    )
