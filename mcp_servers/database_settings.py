"""The database part of the configuration: which URLs, direct or through a pooler, and pool sizes.

Neon offers two URLs for one database: the pooled endpoint (PgBouncer in transaction mode, host
``…-pooler…``) and the direct one. Through the pooler each transaction may run on a different server
connection, so nothing may outlive a transaction there: no protocol-level prepared statements (asyncpg's
statement cache), no session ``SET``, no session advisory lock, no ``LISTEN``. Request pools use
``NEON_DATABASE_URL`` (pooled or not); whatever needs a session (migrations, ``caas db``, listeners)
uses :attr:`DatabaseSettings.direct_database_url`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

__all__ = ["DatabaseSettings"]


class DatabaseSettings(BaseSettings):
    """Fields and checks of the databases; :class:`mcp_servers.config.Settings` inherits them."""

    # With neither URL set, an embedded PostgreSQL holds both databases.
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("NEON_DATABASE_URL", "CAAS_DATABASE_URL"),
        description="System of record (Neon), pooled or direct. Unset: embedded PostgreSQL.",
    )
    # Neon's direct (unpooled) URL of the same database: migrations, `caas db` and LISTEN use it.
    direct_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NEON_DIRECT_URL", "CAAS_DIRECT_DATABASE_URL")
    )
    # Whether NEON_DATABASE_URL goes through a transaction pooler. Unset: pooled exactly when
    # NEON_DIRECT_URL is set (Neon gives both; with only one URL it is taken to be the direct one).
    database_pooled: bool | None = Field(default=None, validation_alias=AliasChoices("CAAS_DATABASE_POOLED"))
    supabase_db_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SUPABASE_DB_URL"),
        description="Supabase Postgres. Unset: a second database beside the system of record.",
    )
    embedded_core_db: str = Field(default="caas", validation_alias=AliasChoices("CAAS_EMBEDDED_CORE_DB"))
    embedded_supabase_db: str = Field(
        default="caas_supabase", validation_alias=AliasChoices("CAAS_EMBEDDED_SUPABASE_DB")
    )
    auto_migrate: bool = Field(default=True, validation_alias=AliasChoices("CAAS_AUTO_MIGRATE"))
    pool_min_size: int = Field(default=2, ge=1, le=100, validation_alias=AliasChoices("CAAS_POOL_MIN_SIZE"))
    pool_max_size: int | None = Field(
        None, ge=1, le=200, validation_alias=AliasChoices("CAAS_DB_POOL_MAX", "CAAS_POOL_MAX_SIZE")
    )

    @field_validator("database_url", "supabase_db_url", "direct_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never echoes the URL: it usually carries a password.
        if value is not None and urlsplit(value.get_secret_value()).scheme not in ("postgres", "postgresql"):
            raise ValueError("must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _consistent_databases(self) -> DatabaseSettings:
        if self.pool_max_size is not None and self.pool_min_size > self.pool_max_size:
            raise ValueError("CAAS_POOL_MIN_SIZE must not exceed CAAS_DB_POOL_MAX")
        if self.supabase_db_url is not None and self.database_url is None:
            raise ValueError("SUPABASE_DB_URL is set but NEON_DATABASE_URL is not; set both or neither")
        if self.direct_url is not None and self.database_url is None:
            raise ValueError("NEON_DIRECT_URL is set but NEON_DATABASE_URL is not; set both or neither")
        if self.pooled and self.direct_url is None:
            # Migrations hold a session advisory lock across transactions: never through the pooler.
            raise ValueError(
                "NEON_DATABASE_URL goes through a pooler (CAAS_DATABASE_POOLED or a -pooler host); "
                "set NEON_DIRECT_URL to the direct URL for migrations and listeners"
            )
        return self

    @property
    def pooled(self) -> bool:
        """True when request pools go through a transaction pooler (statement cache off)."""
        if self.database_pooled is not None:
            return self.database_pooled
        if self.direct_url is not None:
            return True
        # Neon's pooled hosts carry "-pooler" in their first label: refuse to treat one as direct.
        host = urlsplit(self.database_url.get_secret_value()).hostname if self.database_url else None
        return bool(host) and "-pooler" in (host or "").split(".")[0]

    @property
    def direct_database_url(self) -> SecretStr | None:
        """The URL that keeps a session: NEON_DIRECT_URL, else NEON_DATABASE_URL (then direct)."""
        return self.direct_url or self.database_url
