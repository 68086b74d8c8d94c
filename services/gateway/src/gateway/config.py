"""Settings of the gateway (env prefix ``GATEWAY_``).

The gateway owns the schema ``gateway`` (API keys, audit log) and calls the other services over HTTP: one URL and one
explicit time budget per upstream. Secrets are ``SecretStr``; bad configuration fails at start.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from common.dolphin.links import DEFAULT_DS_VERSION, DsLinks, ds_version_of
from common.migrations import migrations_of
from common.settings import ServiceSettings
from gateway.domain.sessions import parse_group_roles

REPO_ROOT = Path(__file__).resolve().parents[4]
MIGRATIONS = migrations_of("gateway")
DEFAULT_PORTAL_DIR = REPO_ROOT / "portal" / "dist"

_HTTP_URL = r"^https?://[^\s]+$"


class Settings(ServiceSettings):
    # hide_input_in_errors: a rejected secret (bootstrap token, database URL) must not be echoed in the error.
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", extra="ignore", env_file=None, populate_by_name=True, hide_input_in_errors=True
    )

    service_name: str = "gateway"
    http_port: int = Field(default=8080, ge=0, le=65535)
    db_schema: str = Field(default="gateway", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    # Upstream services (cluster-internal URLs; never shown to callers)
    definition_url: str = Field(default="http://127.0.0.1:8101", pattern=_HTTP_URL)
    publisher_url: str = Field(default="http://127.0.0.1:8102", pattern=_HTTP_URL)
    history_url: str = Field(default="http://127.0.0.1:8103", pattern=_HTTP_URL)
    lineage_url: str = Field(default="http://127.0.0.1:8104", pattern=_HTTP_URL)
    #: total time budget of one call (connect + send + wait + read), per upstream
    definition_timeout_s: float = Field(default=5.0, gt=0, le=120)
    #: run / batch-run wait for DolphinScheduler's answer, hence the longer budget
    publisher_timeout_s: float = Field(default=10.0, gt=0, le=120)
    #: composed pages (list's last runs, detail's executions): history is non-essential there, so the budget is short
    history_timeout_s: float = Field(default=1.5, gt=0, le=120)
    #: the executions / instance / log endpoints, where history-sync may have to ask DolphinScheduler first
    history_direct_timeout_s: float = Field(default=10.0, gt=0, le=120)
    lineage_timeout_s: float = Field(default=3.0, gt=0, le=120)
    #: pooled connections per upstream client
    upstream_max_connections: int = Field(default=100, ge=1, le=10_000)
    #: concurrent owner-workflow look-ups when a task page builds DolphinScheduler links
    link_lookup_concurrency: int = Field(default=8, ge=1, le=100)

    #: base of "open in DolphinScheduler" links, e.g. http://ds.example.com/dolphinscheduler/ui; empty: no links
    ds_ui_url: str = ""
    #: the DolphinScheduler version behind ``ds_ui_url`` (``3.3``, ``3.4``, or a full ``3.4.2``): its UI routes
    ds_version: str = DEFAULT_DS_VERSION
    #: the trace backend's page of one trace, ``{trace_id}`` standing for the id: Zipkin
    #: ``http://127.0.0.1:9411/zipkin/traces/{trace_id}``, Jaeger ``http://jaeger:16686/trace/{trace_id}``. Publish
    #: records and runs started here get their ``trace_link``; empty: no links
    trace_url_template: str = ""
    #: the built portal (``cd portal && npm ci && npm run build``); served at ``/`` when it exists
    portal_dir: Path = DEFAULT_PORTAL_DIR

    #: when set, an admin key with exactly this secret (name ``admin``) is ensured at start (local runs, tests)
    bootstrap_admin_token: SecretStr | None = None
    #: a client with this many failed authentications within ``auth_failure_window_s`` is refused (429) until the
    #: oldest leaves the window; 0: no limit
    auth_failures_max: int = Field(default=10, ge=0)
    auth_failure_window_s: float = Field(default=60.0, gt=0, le=3600)
    #: addresses of the reverse proxies (ingress) whose ``X-Forwarded-For`` names the client (comma-separated, or
    #: ``*``); empty: the connection's address is the client (failed-authentication limits are per client)
    forwarded_allow_ips: str = ""
    #: ``api_key.last_used_at`` is written at most once per this interval per key (saves a write per request)
    key_touch_interval_s: float = Field(default=60.0, ge=0)
    #: a key found valid is trusted this long without a database look-up: a revocation takes effect in every gateway
    #: process within this bound (at once in the one that revoked it); 0 looks every request up
    key_cache_ttl_s: float = Field(default=5.0, ge=0, le=60)
    #: the lifetime of a new API key when its creator gives no expiry (days)
    key_lifetime_days: int = Field(default=90, ge=1, le=3660)

    # People sign in with their company account (OpenID Connect, gateway.oidc / gateway.sessions). Without an issuer
    # the portal offers no sign-in button and everything works with API keys alone.
    #: the provider's issuer URL (e.g. https://sso.example.com/realms/platform); its discovery document is
    #: ``<issuer>/.well-known/openid-configuration``
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    #: the confidential client's secret; also keys the encryption of the provider's tokens in the session table
    oidc_client_secret: SecretStr | None = None
    #: group → roles, JSON: ``{"platform-editors": ["editor"], ...}``; read at each sign-in (a change takes effect at
    #: the person's next sign-in); a person none of whose groups is here cannot sign in
    oidc_group_roles: dict[str, list[str]] = Field(default_factory=dict)
    oidc_scopes: str = "openid profile email"
    #: the provider's time budget per call (discovery, keys, token, refresh)
    oidc_timeout_s: float = Field(default=10.0, gt=0, le=120)
    #: the gateway's URL as browsers see it (e.g. https://platform.example.com): the callback is
    #: ``<public_url>/auth/callback``; empty: the request's own URL
    public_url: str = ""
    #: the session cookie's ``Secure`` flag; off only for http://localhost (a sign-in elsewhere is refused then)
    session_cookie_secure: bool = True
    #: a session ends after this long without a request, and this long after its sign-in, whichever comes first
    session_idle_timeout_s: float = Field(default=3600.0, gt=0)
    session_max_age_s: float = Field(default=43_200.0, gt=0)
    #: a session found valid is trusted this long without a database look-up (as ``key_cache_ttl_s`` for keys);
    #: sign-out forgets it at once in the process that signed out
    session_cache_ttl_s: float = Field(default=5.0, ge=0, le=60)
    #: Python's young-generation GC threshold for this process (default 700; 0 keeps it). A list page allocates some
    #: tens of thousands of objects, nearly all freed by reference counting; with 700 the collector runs many times
    #: per request, and every few hundred requests a full collection walks everything the process holds.
    gc_threshold: int = Field(default=100_000, ge=0)
    #: after start, move everything built so far (modules, schemas, the app) to the collector's permanent
    #: generation (``gc.freeze``), so a full collection walks only what requests created
    gc_freeze: bool = True

    @field_validator("oidc_group_roles")
    @classmethod
    def _group_roles(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        return {group: list(roles) for group, roles in parse_group_roles(v).items()}

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.oidc_issuer:
            secret = self.oidc_client_secret.get_secret_value() if self.oidc_client_secret else ""
            if not self.oidc_client_id or not secret:
                raise ValueError("oidc_issuer needs oidc_client_id and oidc_client_secret")
            if not self.oidc_group_roles:
                raise ValueError("oidc_issuer needs oidc_group_roles (group → roles), or nobody could sign in")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    @field_validator("trace_url_template")
    @classmethod
    def _trace_template(cls, v: str) -> str:
        v = v.strip()
        if v and not (v.startswith(("http://", "https://")) and "{trace_id}" in v):
            raise ValueError("trace_url_template must be an http(s) URL with {trace_id} in it, or empty")
        return v

    @field_validator("ds_version")
    @classmethod
    def _ds_version(cls, v: str) -> str:
        return ds_version_of(v)

    @property
    def ds_links(self) -> DsLinks:
        """The "open in DolphinScheduler" link builder (no links while ``ds_ui_url`` is empty)."""
        return DsLinks(self.ds_ui_url, self.ds_version)

    @field_validator("ds_ui_url", "oidc_issuer", "public_url")
    @classmethod
    def _strip_slash(cls, v: str, info: ValidationInfo) -> str:
        v = v.strip().rstrip("/")
        if v and not (v.startswith("http://") or v.startswith("https://")):
            raise ValueError(f"{info.field_name} must be an http(s) URL or empty")
        return v

    @field_validator("definition_url", "publisher_url", "history_url", "lineage_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        return v.rstrip("/")

    @field_validator("bootstrap_admin_token")
    @classmethod
    def _strong_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value():
            return None
        raw = v.get_secret_value()
        if len(raw) < 16 or any(c.isspace() for c in raw):
            raise ValueError("bootstrap_admin_token must be at least 16 characters without whitespace")
        return v
