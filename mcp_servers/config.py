"""Configuration from the environment (and an optional ``.env``), validated once at start-up."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from platformdirs import user_data_dir
from pydantic import (
    AliasChoices,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcp_servers.database_settings import DatabaseSettings
from mcp_servers.worker_settings import WorkerSettings
from tools.credit.domain.documents import DEFAULT_MAX_BYTES
from tools.payments.domain.routing import DEFAULT_ROUTES, RoutingError, parse_routes
from tools.platform.domain.money import MoneyError, to_minor
from tools.platform.principal import Role

__all__ = ["SERVER_NAMES", "ConfigError", "Settings", "load_settings"]

# The servers by their settings name: the composed one and each of composition.SERVICES (a test holds it).
SERVER_NAMES = ("caas", *"credit risk documents admin providers payments notifications monitoring".split())  # noqa: SIM905


class ConfigError(Exception):
    """One line naming the variable and what is wrong with it."""


def _env(name: str, *more: str) -> AliasChoices:
    return AliasChoices(name, *more)


class Settings(DatabaseSettings, WorkerSettings):
    """Every setting; the databases' are in :class:`DatabaseSettings` (mcp_servers/database_settings.py),
    the workers' in :class:`WorkerSettings` (mcp_servers/worker_settings.py)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True, frozen=True
    )

    supabase_url: HttpUrl | None = Field(default=None, validation_alias=_env("SUPABASE_URL"))
    supabase_service_role_key: SecretStr | None = Field(
        default=None, validation_alias=_env("SUPABASE_SERVICE_ROLE_KEY")
    )
    supabase_storage_bucket: str = Field(
        default="caas-documents",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        validation_alias=_env("CAAS_SUPABASE_STORAGE_BUCKET"),
    )
    document_max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES, ge=1, le=1 << 30, validation_alias=_env("CAAS_DOCUMENT_MAX_BYTES")
    )
    # The Onasis gateway (payments, SMS, email). Unset: the sandbox runs in-process and money is
    # simulated (adapters/sandbox, mcp_servers.runtime).
    onasis_gateway_url: HttpUrl | None = Field(default=None, validation_alias=_env("ONASIS_GATEWAY_URL"))
    onasis_api_key: SecretStr | None = Field(default=None, validation_alias=_env("ONASIS_API_KEY"))
    onasis_project_scope: str | None = Field(
        default="caas", max_length=200, validation_alias=_env("ONASIS_PROJECT_SCOPE")
    )
    onasis_payments_path: str = Field(
        default="/api/v1/payments",
        pattern=r"^(/[A-Za-z0-9._~-]+)+/?$",
        validation_alias=_env("ONASIS_PAYMENTS_PATH"),
    )
    onasis_transfers_path: str = Field(
        default="/api/v1/payments/transfer",
        pattern=r"^(/[A-Za-z0-9._~-]+)+/?$",
        validation_alias=_env("ONASIS_TRANSFERS_PATH"),
    )
    gateway_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, validation_alias=_env("CAAS_GATEWAY_TIMEOUT_SECONDS")
    )
    gateway_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, validation_alias=_env("CAAS_GATEWAY_CONNECT_TIMEOUT_SECONDS")
    )
    payment_routes: str = Field(default=DEFAULT_ROUTES, validation_alias=_env("CAAS_PAYMENT_ROUTES"))
    breaker_failures: int = Field(default=5, ge=1, le=1000, validation_alias=_env("CAAS_BREAKER_FAILURES"))
    breaker_reset_seconds: float = Field(
        default=30.0, gt=0, le=86400, validation_alias=_env("CAAS_BREAKER_RESET_SECONDS")
    )
    # Webhook signing secrets. Unset while the sandbox runs: it generates them and the runtime shares
    # them (Runtime.payment_secrets).
    paystack_secret_key: SecretStr | None = Field(default=None, validation_alias=_env("PAYSTACK_SECRET_KEY"))
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("STRIPE_WEBHOOK_SECRET")
    )
    # The platform's base URL the in-process sandbox posts webhooks to (+ /webhooks/paystack|stripe).
    # `caas serve` over HTTP sets it to its own address when unset.
    sandbox_webhook_url: HttpUrl | None = Field(
        default=None, validation_alias=_env("CAAS_SANDBOX_WEBHOOK_URL")
    )
    # Unset: the in-process sandbox's registry when the sandbox runs, else the contract's
    # http://localhost:3001 (mcp_servers.platform.registration.registry_url).
    mcp_server_url: HttpUrl | None = Field(default=None, validation_alias=_env("MCP_SERVER_URL"))

    # Service registration with the Onasis MCP server (mcp_servers/platform/registration.py).
    registry: bool = Field(default=True, validation_alias=_env("CAAS_REGISTRY"))
    registry_services_path: str = Field(
        default="/api/services",
        pattern=r"^(/[A-Za-z0-9._~-]+)*/?$",
        validation_alias=_env("ONASIS_REGISTRY_SERVICES_PATH"),
    )
    registry_heartbeat_seconds: float = Field(
        default=30.0, gt=0, le=3600, validation_alias=_env("CAAS_REGISTRY_HEARTBEAT_SECONDS")
    )
    registry_retry_seconds: float = Field(
        default=1.0, gt=0, le=3600, validation_alias=_env("CAAS_REGISTRY_RETRY_SECONDS")
    )
    registry_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, validation_alias=_env("CAAS_REGISTRY_TIMEOUT_SECONDS")
    )
    registry_namespace: str = Field(
        default="io.github.onasis",
        pattern=r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$",
        validation_alias=_env("CAAS_REGISTRY_NAMESPACE"),
    )
    # The URL others reach this server at (behind nginx, say); "{service}" becomes the server's name
    # (caas, caas-credit, ...). Unset: http://<bind host>:<port>/mcp.
    public_url: str | None = Field(default=None, validation_alias=_env("CAAS_PUBLIC_URL"))

    data_dir: Path = Field(default=Path(user_data_dir("caas")), validation_alias=_env("CAAS_DATA_DIR"))

    operator_approval_above: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "NGN": Decimal("5000000"),
            "KES": Decimal("1000000"),
            "USD": Decimal("10000"),
        },
        validation_alias=_env("CAAS_OPERATOR_APPROVAL_ABOVE"),
    )
    bidding_window_hours: int = Field(
        default=72, ge=1, le=24 * 90, validation_alias=_env("CAAS_BIDDING_WINDOW_HOURS")
    )

    # Loan servicing: when a loan is in default, and the late fee charged once per overdue installment.
    default_threshold_days: int = Field(
        default=90, ge=1, le=3650, validation_alias=_env("CAAS_DEFAULT_THRESHOLD_DAYS")
    )
    late_fee_rate: Decimal = Field(
        default=Decimal("0.05"), ge=0, le=1, validation_alias=_env("CAAS_LATE_FEE_RATE")
    )
    late_fee_flat: dict[str, Decimal] = Field(
        default_factory=dict, validation_alias=_env("CAAS_LATE_FEE_FLAT")
    )
    late_fee_grace_days: int = Field(
        default=5, ge=0, le=365, validation_alias=_env("CAAS_LATE_FEE_GRACE_DAYS")
    )
    # Borrowers are reminded of an installment this many days before it is due
    # (tools/notifications/notifications.py).
    repayment_reminder_days: int = Field(
        default=3, ge=0, le=60, validation_alias=_env("CAAS_REPAYMENT_REMINDER_DAYS")
    )

    monitor_targets: str = Field(default="", validation_alias=_env("CAAS_MONITOR_TARGETS"))  # /metrics URLs
    workers: bool | None = Field(None, validation_alias=_env("CAAS_WORKERS"))  # None: mcp_servers.processes
    # 2025-11-25 clients over HTTP get a session (Mcp-Session-Id, a GET stream for notifications), which
    # resources/subscribe needs; off, every request stands alone and any replica can answer it.
    http_sessions: bool = Field(default=False, validation_alias=_env("CAAS_HTTP_SESSIONS"))
    # How long /metrics reuses its read of the database's facts (mcp_servers/platform/metrics.py).
    metrics_cache_s: float = Field(10.0, ge=0, le=60, validation_alias=_env("CAAS_METRICS_CACHE_SECONDS"))
    # How often a server with resource subscriptions reads new outbox events (mcp_servers/subscriptions.py).
    subscription_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, validation_alias=_env("CAAS_SUBSCRIPTION_POLL_SECONDS")
    )
    # Webhooks to credit providers (tools/marketplace/provider_webhooks.py). At most 12 attempts: the job
    # queue itself gives up on any job at its 12th (tools.platform.jobs.run_queue), and the delivery must fail
    # first.
    webhook_max_attempts: int = Field(
        default=10, ge=1, le=12, validation_alias=_env("CAAS_WEBHOOK_MAX_ATTEMPTS")
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, validation_alias=_env("CAAS_WEBHOOK_TIMEOUT_SECONDS")
    )
    webhook_retry_base_seconds: float = Field(
        default=30.0, gt=0, le=3600, validation_alias=_env("CAAS_WEBHOOK_RETRY_BASE_SECONDS")
    )
    # Webhook receivers on loopback and plain http (tools/platform/domain/outbound.py). Unset: allowed
    # for the embedded default and the sandbox (a developer's machine), refused otherwise.
    webhook_allow_local: bool | None = Field(default=None, validation_alias=_env("CAAS_WEBHOOK_ALLOW_LOCAL"))
    # After rotate_provider_secret the replaced secret still signs (and verifies) this long.
    webhook_secret_overlap_hours: float = Field(
        default=24.0, ge=0, le=720, validation_alias=_env("CAAS_WEBHOOK_SECRET_OVERLAP_HOURS")
    )
    host: str = Field(default="127.0.0.1", validation_alias=_env("CAAS_HOST"))
    # DNS-rebinding protection on every HTTP route (mcp_servers.platform.serving): Host names and browser
    # Origins accepted besides loopback, the bind address and CAAS_PUBLIC_URL's host; comma-separated.
    allowed_hosts: str = Field(default="", validation_alias=_env("CAAS_ALLOWED_HOSTS"))
    allowed_origins: str = Field(default="", validation_alias=_env("CAAS_ALLOWED_ORIGINS"))
    trusted_proxies: str = Field(default="127.0.0.1", validation_alias=_env("CAAS_TRUSTED_PROXIES"))
    # On SIGTERM: how long calls in flight may take to finish before the process stops anyway.
    shutdown_grace_s: float = Field(
        default=20.0, ge=0, le=3600, validation_alias=_env("CAAS_SHUTDOWN_GRACE_S")
    )
    # Simulated money on a configured (real) database only when the operator says so.
    sandbox: bool = Field(default=False, validation_alias=_env("CAAS_SANDBOX"))
    # Money moves wait for a person (tools/platform/confirmation.py): "self" lets the caller confirm its
    # own pending action (a trusted operator console); a confirmation lapses after the TTL.
    confirm: Literal["human", "self"] = Field(default="human", validation_alias=_env("CAAS_CONFIRM"))
    confirm_ttl_minutes: int = Field(
        default=15, ge=1, le=1440, validation_alias=_env("CAAS_CONFIRM_TTL_MINUTES")
    )
    # Roles whose accepted elicitation confirms a money move (their own client shows it to the person).
    confirm_elicitation_roles: str = Field(
        default="borrower,operator,admin", validation_alias=_env("CAAS_CONFIRM_ELICITATION_ROLES")
    )
    port: int | None = Field(default=None, ge=1, le=65535, validation_alias=_env("CAAS_PORT"))
    # Which toolsets clients see (mcp_servers/toolsets.py): empty, each role its defaults; names (or
    # all) are also the most a connection's X-CaaS-Toolsets header may ask for.
    toolsets: str = Field(default="", max_length=500, validation_alias=_env("CAAS_TOOLSETS"))
    read_only: bool = Field(default=False, validation_alias=_env("CAAS_READ_ONLY"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=_env("CAAS_LOG_LEVEL")
    )
    # Unset: JSON lines for `caas serve` over HTTP and `caas worker`, text for stdio and the other commands.
    log_format: Literal["json", "text"] | None = Field(default=None, validation_alias=_env("CAAS_LOG_FORMAT"))

    # Identity over HTTP: a JWT (HS256 secret or JWKS) or the service API key.
    jwt_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("CAAS_JWT_SECRET", "SUPABASE_JWT_SECRET")
    )
    jwt_jwks_url: HttpUrl | None = Field(default=None, validation_alias=_env("CAAS_JWT_JWKS_URL"))
    jwt_algorithm: str = Field(default="RS256", validation_alias=_env("CAAS_JWT_ALGORITHM"))
    jwt_issuer: str | None = Field(default=None, validation_alias=_env("CAAS_JWT_ISSUER"))
    jwt_audience: str = Field(default="authenticated", validation_alias=_env("CAAS_JWT_AUDIENCE"))
    # Per server ("caas" for the composed one, else the service name): its own audience, so a token
    # minted for one MCP server is refused by another. JSON, e.g. {"payments": "https://pay.example/mcp"}.
    jwt_audiences: dict[str, str] = Field(default_factory=dict, validation_alias=_env("CAAS_JWT_AUDIENCES"))
    jwt_max_lifetime_s: int = Field(
        default=86400, ge=60, le=30 * 86400, validation_alias=_env("CAAS_JWT_MAX_LIFETIME_S")
    )
    jwt_leeway_s: int = Field(default=30, ge=0, le=300, validation_alias=_env("CAAS_JWT_LEEWAY_S"))
    # `caas token --role ...`: tokens signed with a key in the data directory, for every role on one
    # machine. Unset: on for the embedded database only (a developer's laptop), off for a deployment.
    local_tokens: bool | None = Field(default=None, validation_alias=_env("CAAS_LOCAL_TOKENS"))
    service_api_key: SecretStr | None = Field(default=None, validation_alias=_env("CAAS_SERVICE_API_KEY"))
    service_subject: str = Field(default="onasis-mcp", validation_alias=_env("CAAS_SERVICE_SUBJECT"))

    # Identity over stdio, where the local user is trusted.
    stdio_subject: str = Field(default="local-operator", validation_alias=_env("CAAS_STDIO_SUBJECT"))
    stdio_role: Role = Field(default=Role.OPERATOR, validation_alias=_env("CAAS_STDIO_ROLE"))
    stdio_provider_id: str | None = Field(default=None, validation_alias=_env("CAAS_STDIO_PROVIDER_ID"))

    # Personal data encryption at rest. All unset: dev keys in the data dir (embedded database only).
    pii_keys: SecretStr | None = Field(default=None, validation_alias=_env("CAAS_PII_KEYS"))
    pii_active_key_id: str | None = Field(default=None, validation_alias=_env("CAAS_PII_ACTIVE_KEY_ID"))
    pii_index_key: SecretStr | None = Field(default=None, validation_alias=_env("CAAS_PII_INDEX_KEY"))

    @field_validator("payment_routes")
    @classmethod
    def _payment_routes(cls, value: str) -> str:
        try:
            parse_routes(value)
        except RoutingError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("toolsets")
    @classmethod
    def _toolsets(cls, value: str) -> str:
        # Imported here to keep config import-light (the toolsets module holds their middleware too).
        from mcp_servers.toolsets import parse_toolsets

        parse_toolsets(value)  # a ToolsetError is a ValueError: one line naming the valid toolsets
        return value

    @field_validator("jwt_audiences")
    @classmethod
    def _audience_servers(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SERVER_NAMES))
        if unknown:
            raise ValueError(f"unknown server {unknown[0]!r}; use one of {', '.join(SERVER_NAMES)}")
        if any(not audience.strip() for audience in value.values()):
            raise ValueError("an audience must not be empty")
        return value

    @field_validator("late_fee_flat")
    @classmethod
    def _late_fee_amounts(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for currency, amount in value.items():
            if amount < 0:
                raise ValueError(f"the {currency} late fee must not be negative")
            try:
                to_minor(amount, currency)
            except MoneyError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.replace("{service}", "caas"))
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("must be an http(s) URL such as https://caas.example.com/mcp")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value()) < 32:
            raise ValueError("CAAS_JWT_SECRET must be at least 32 characters")
        # PII keys are checked at load so a bad key fails like any other variable (imported here:
        # config stays light).
        from mcp_servers.platform.pii import check_pii_settings

        check_pii_settings(self)
        return self

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def allows_local_webhooks(self) -> bool:
        if self.webhook_allow_local is not None:
            return self.webhook_allow_local
        return self.embedded or self.sandbox or self.onasis_gateway_url is None

    @property
    def local_tokens_enabled(self) -> bool:
        return self.embedded if self.local_tokens is None else self.local_tokens

    def audience_for(self, server: str) -> str:
        """The ``aud`` a token must carry for ``server`` ("caas" or a service name)."""
        return self.jwt_audiences.get(server, self.jwt_audience)

    @property
    def allowed_host_list(self) -> list[str]:
        return _items(self.allowed_hosts)

    @property
    def allowed_origin_list(self) -> list[str]:
        return _items(self.allowed_origins)


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _variable(settings_cls: type[BaseSettings], loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "configuration"
    field = settings_cls.model_fields.get(str(loc[0]))
    alias = field.validation_alias if field else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(loc[0]).upper()


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; raises ConfigError with one readable line on a bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["loc"]:
            raise ConfigError(f"{_variable(Settings, err['loc'])}: {message}") from None
        raise ConfigError(message) from None
