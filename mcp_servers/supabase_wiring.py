"""Where the Supabase side lives for this process: PostgREST over HTTP (supabase-py) or the Supabase
Postgres pool, for the status mirror, notifications and support chat; and where KYC files go."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

from adapters.credit.local_store import LocalDocumentStore
from adapters.notifications.supabase_sync import PgStatusMirror, PostgrestStatusMirror
from database.notifications.notifications import PgNotificationStore
from database.notifications.support_chat import PgSupportStore
from mcp_servers.config import Settings
from tools.credit.ports import DocumentStore
from tools.notifications.ports import NotificationStore, StatusMirror, SupportStore

if TYPE_CHECKING:
    from adapters.platform.supabase_rest import SupabaseRest

__all__ = ["document_store", "status_mirror", "supabase_over_rest", "supabase_stores"]


def supabase_over_rest(settings: Settings) -> tuple[str, str] | None:
    """The Supabase URL and service-role key when the Supabase tables are reached over HTTP
    (PostgREST through supabase-py): only SUPABASE_URL and the key are set. None when they are
    reached through Postgres: SUPABASE_DB_URL is set, or the databases are embedded, or neither is
    configured (then the Supabase tables live beside the system of record)."""
    direct = settings.supabase_db_url is not None or settings.database_url is None
    if not direct and settings.supabase_url is not None and settings.supabase_service_role_key is not None:
        return str(settings.supabase_url), settings.supabase_service_role_key.get_secret_value()
    return None


def status_mirror(settings: Settings, supabase_pool: asyncpg.Pool) -> StatusMirror:
    """Where the Supabase sync writes (the rule is ``supabase_over_rest``)."""
    rest = supabase_over_rest(settings)
    if rest is not None:
        return PostgrestStatusMirror(*rest)
    return PgStatusMirror(supabase_pool)


def supabase_stores(
    settings: Settings, supabase_pool: asyncpg.Pool
) -> tuple[NotificationStore, SupportStore, SupabaseRest | None]:
    """Where notifications and support chat live, by the same rule as the status mirror: PostgREST
    (one shared connection, returned for the runtime to close) or the Supabase Postgres pool."""
    target = supabase_over_rest(settings)
    if target is None:
        return PgNotificationStore(supabase_pool), PgSupportStore(supabase_pool), None
    # supabase-py only in a process configured for it (importing it costs about 8 MiB and 0.2 s).
    from adapters.notifications.postgrest_notifications import PostgrestNotificationStore
    from adapters.notifications.postgrest_support_chat import PostgrestSupportStore
    from adapters.platform.supabase_rest import SupabaseRest

    rest = SupabaseRest(*target)
    notifications = PostgrestNotificationStore(rest)
    return notifications, PostgrestSupportStore(rest, notifications), rest


def document_store(settings: Settings) -> DocumentStore:
    """Supabase Storage when its URL and service-role key are set, else files in the data dir."""
    if settings.supabase_url is not None and settings.supabase_service_role_key is not None:
        from adapters.credit.supabase_storage import SupabaseStorage

        return SupabaseStorage(
            str(settings.supabase_url),
            settings.supabase_service_role_key.get_secret_value(),
            settings.supabase_storage_bucket,
        )
    return LocalDocumentStore(settings.data_dir / "documents")
