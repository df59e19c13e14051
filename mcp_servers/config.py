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

from tools.domain.documents import DEFAULT_MAX_BYTES
from tools.domain.money import MoneyError, to_minor
from tools.principal import Role

__all__ = ["ConfigError", "Settings", "load_settings"]


class ConfigError(Exception):
    """One line naming the variable and what is wrong with it."""


def _env(name: str, *more: str) -> AliasChoices:
    return AliasChoices(name, *more)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True, frozen=True
    )

    # Databases. With neither URL set, an embedded PostgreSQL holds both databases.
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=_env("NEON_DATABASE_URL", "CAAS_DATABASE_URL"),
        description="System of record (Neon). Unset: embedded PostgreSQL.",
    )
    supabase_db_url: SecretStr | None = Field(
        default=None,
        validation_alias=_env("SUPABASE_DB_URL"),
        description="Supabase Postgres. Unset: a second database beside the system of record.",
    )
    supabase_url: HttpUrl | None = Field(default=None, validation_alias=_env("SUPABASE_URL"))
    supabase_anon_key: SecretStr | None = Field(default=None, validation_alias=_env("SUPABASE_ANON_KEY"))
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
    onasis_gateway_url: HttpUrl = Field(
        default=HttpUrl("http://localhost:3000"), validation_alias=_env("ONASIS_GATEWAY_URL")
    )
    mcp_server_url: HttpUrl = Field(
        default=HttpUrl("http://localhost:3001"), validation_alias=_env("MCP_SERVER_URL")
    )

    data_dir: Path = Field(default=Path(user_data_dir("caas")), validation_alias=_env("CAAS_DATA_DIR"))
    embedded_core_db: str = Field(default="caas", validation_alias=_env("CAAS_EMBEDDED_CORE_DB"))
    embedded_supabase_db: str = Field(
        default="caas_supabase", validation_alias=_env("CAAS_EMBEDDED_SUPABASE_DB")
    )
    auto_migrate: bool = Field(default=True, validation_alias=_env("CAAS_AUTO_MIGRATE"))
    pool_min_size: int = Field(default=2, ge=1, le=100, validation_alias=_env("CAAS_POOL_MIN_SIZE"))
    pool_max_size: int = Field(default=16, ge=1, le=200, validation_alias=_env("CAAS_POOL_MAX_SIZE"))

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

    workers: bool = Field(default=True, validation_alias=_env("CAAS_WORKERS"))
    worker_poll_seconds: float = Field(
        default=0.5, gt=0, le=60, validation_alias=_env("CAAS_WORKER_POLL_SECONDS")
    )
    host: str = Field(default="127.0.0.1", validation_alias=_env("CAAS_HOST"))
    port: int | None = Field(default=None, ge=1, le=65535, validation_alias=_env("CAAS_PORT"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=_env("CAAS_LOG_LEVEL")
    )

    # Identity over HTTP: a JWT (HS256 secret or JWKS) or the service API key.
    jwt_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("CAAS_JWT_SECRET", "SUPABASE_JWT_SECRET")
    )
    jwt_jwks_url: HttpUrl | None = Field(default=None, validation_alias=_env("CAAS_JWT_JWKS_URL"))
    jwt_algorithm: str = Field(default="RS256", validation_alias=_env("CAAS_JWT_ALGORITHM"))
    jwt_issuer: str | None = Field(default=None, validation_alias=_env("CAAS_JWT_ISSUER"))
    jwt_audience: str = Field(default="authenticated", validation_alias=_env("CAAS_JWT_AUDIENCE"))
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

    @field_validator("database_url", "supabase_db_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never echoes the URL: it usually carries a password.
        if value is not None and urlsplit(value.get_secret_value()).scheme not in ("postgres", "postgresql"):
            raise ValueError("must be a postgresql:// URL")
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

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("CAAS_POOL_MIN_SIZE must not exceed CAAS_POOL_MAX_SIZE")
        if self.supabase_db_url is not None and self.database_url is None:
            raise ValueError("SUPABASE_DB_URL is set but NEON_DATABASE_URL is not; set both or neither")
        if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value()) < 32:
            raise ValueError("CAAS_JWT_SECRET must be at least 32 characters")
        return self

    @model_validator(mode="after")
    def _pii_keys_parse(self) -> Settings:
        # Checked at load so a malformed key fails like any other variable; the vault is built in
        # wiring (mcp_servers.pii.vault_from_settings). Imported here to keep config import-light.
        from mcp_servers.pii import check_pii_settings

        check_pii_settings(self)
        return self

    @property
    def embedded(self) -> bool:
        return self.database_url is None


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
