"""``caas db``: migrate, status, backup and restore of both databases.

``caas db backup --out DIR`` writes ``core.dump`` (and ``supabase.dump`` when the Supabase side is a
database of its own) with ``pg_dump -Fc --no-owner``, and ``manifest.json``: when, which server and
pg_dump, each database's applied migrations, each file's SHA-256, and the check values of the
personal-data keys. Those columns are encrypted (AES-256-GCM, ``CAAS_PII_*``): a backup without its
keys is unreadable, so the keys are never in the backup and ``caas db restore --from DIR`` refuses to
restore under keys whose check values differ. After restoring it verifies the migrations and decrypts
a sample of every encrypted column with the configured keys.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from database import backup, migrate
from mcp_servers.config import ConfigError, Settings
from mcp_servers.platform.pii import vault_from_settings

__all__ = ["add_db_parser", "run_db"]

MANIFEST = "manifest.json"
FORMAT = 1
REMINDER = (
    "National ids, dates of birth, account numbers and webhook secrets in these dumps are encrypted "
    "with the CAAS_PII_* keys (CAAS_PII_KEYS, CAAS_PII_ACTIVE_KEY_ID, CAAS_PII_INDEX_KEY; on the embedded "
    "default, the file pii-keys.json in CAAS_DATA_DIR). A backup "
    "without its keys is unreadable: keep the keys, separately from this directory, as long as the "
    "backup. pii.fingerprints are their check values, not the keys."
)
# Personal data at rest: bytea columns named *_encrypted (migrations 0006 and later).
_ENCRYPTED = """
SELECT table_schema, table_name, column_name FROM information_schema.columns
WHERE data_type = 'bytea' AND column_name LIKE '%\\_encrypted' AND table_schema LIKE 'caas\\_%'
ORDER BY 1, 2, 3
"""


def add_db_parser(sub: Any) -> None:
    db = sub.add_parser("db", help="database migrations, backup and restore")
    db.add_argument("action", choices=["migrate", "status", "backup", "restore"])
    db.add_argument("--out", type=Path, help="backup: the directory to write (must not exist or be empty)")
    db.add_argument("--from", dest="source", type=Path, help="restore: a directory `caas db backup` wrote")
    db.add_argument(
        "--clean",
        action="store_true",
        help="restore: drop what the backup holds first (else the target must be new)",
    )


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _targets(settings: Settings, core: str, supabase: str) -> dict[str, str]:
    # Without a Supabase database of its own, its tables live in the core database: one dump holds both.
    return {"core": core} if supabase == core else {"core": core, "supabase": supabase}


async def run_db(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_servers.runtime import prepare_schema, resolve_databases

    if args.action == "backup" and args.out is None:
        raise ConfigError("caas db backup needs --out DIR")
    if args.action == "restore" and args.source is None:
        raise ConfigError("caas db restore needs --from DIR")
    targets = await resolve_databases(settings)
    try:
        if args.action == "backup":
            return await _backup(
                settings, _targets(settings, targets.direct_core, targets.direct_supabase), args.out
            )
        if args.action == "restore":
            found = _targets(settings, targets.direct_core, targets.direct_supabase)
            return await _restore(settings, found, args.source, clean=args.clean)
        # Migrations and pg_dump keep a session: the direct URLs, never a transaction pooler.
        for target, dsn in (("core", targets.direct_core), ("supabase", targets.direct_supabase)):
            if args.action == "migrate":
                applied = await prepare_schema(dsn, target, apply=True)  # type: ignore[arg-type]
                names = ": " + ", ".join(applied) if applied else ""
                _out(f"{target}: applied {len(applied)} migration(s){names}")
                continue
            for st in await _status(dsn, target):
                when = st.applied_at.isoformat(timespec="seconds") if st.applied_at else "-"
                _out(f"{target:9} {st.migration_name:40} {st.state:8} {when}")
        return 0
    except backup.BackupError as exc:
        sys.stderr.write(f"caas: {exc}\n")
        return 6
    finally:
        if targets.embedded is not None:
            targets.embedded.stop()


async def _status(dsn: str, target: str) -> list[migrate.MigrationState]:
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate.status(conn, target)  # type: ignore[arg-type]
    finally:
        await conn.close()


async def _backup(settings: Settings, targets: dict[str, str], out: Path) -> int:
    vault = vault_from_settings(settings)
    _new_directory(out)
    databases: dict[str, Any] = {}
    for target, dsn in targets.items():
        states = await _status(dsn, target)
        pending = [s.migration_name for s in states if s.state != "applied"]
        if pending:
            raise ConfigError(
                f"{target}: migrations not applied ({', '.join(pending)}); run caas db migrate first"
            )
        path = out / f"{target}.dump"
        tool = await backup.dump(dsn, path)
        _, server_version = await backup.server_major(dsn)
        databases[target] = {
            "file": path.name,
            "sha256": backup.sha256_of(path),
            "server_version": server_version,
            "pg_dump": {"version": tool.version, "major": tool.major},
            "migrations": [s.migration_name for s in states],
        }
        _out(f"{target}: {path} ({path.stat().st_size} bytes, {len(states)} migrations)")
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "databases": databases,
        "supabase_in_core": "supabase" not in targets,
        "pii": {"active_key_id": vault.active_key_id, "fingerprints": vault.fingerprints()},
        "reminder": REMINDER,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    _out(f"manifest: {out / MANIFEST}")
    _out(f"keys: {REMINDER}")
    return 0


def _new_directory(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out}: not empty; give a new directory for each backup")
    out.mkdir(parents=True, exist_ok=True)


def _read_manifest(source: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--from {source}: no readable {MANIFEST} ({type(exc).__name__})") from None
    if manifest.get("format") != FORMAT:
        raise ConfigError(f"--from {source}: {MANIFEST} format {manifest.get('format')!r} is not {FORMAT}")
    return dict(manifest)


def _check_keys(settings: Settings, manifest: dict[str, Any]) -> Any:
    """The configured vault, when it holds every key the backup was made under (same check values)."""
    vault = vault_from_settings(settings)
    have = vault.fingerprints()
    wanted: dict[str, str] = manifest["pii"]["fingerprints"]
    wrong = [key_id for key_id, check in wanted.items() if have.get(key_id) != check]
    if wrong:
        names = ", ".join(
            "the index key (CAAS_PII_INDEX_KEY)" if k.startswith("@") else repr(k) for k in wrong
        )
        raise ConfigError(
            f"CAAS_PII_KEYS: the backup was made under keys this configuration lacks or has different: "
            f"{names}; configure the keys the backup was made with (its personal data is unreadable "
            "without them)"
        )
    return vault


async def _restore(settings: Settings, targets: dict[str, str], source: Path, *, clean: bool) -> int:
    manifest = _read_manifest(source)
    vault = _check_keys(settings, manifest)
    if manifest["supabase_in_core"] != ("supabase" not in targets):
        raise ConfigError(
            "SUPABASE_DB_URL: the backup and this configuration disagree on whether the Supabase side is a "
            "database of its own; configure it as it was when the backup was made"
        )
    for target, entry in manifest["databases"].items():
        path = source / entry["file"]
        if backup.sha256_of(path) != entry["sha256"]:
            raise ConfigError(f"--from {source}: {entry['file']} does not match its SHA-256 in {MANIFEST}")
        if not clean and await _has_schema(targets[target]):
            raise ConfigError(
                f"{target}: the database already holds CaaS tables; restore into a new one or add --clean"
            )
    for target, entry in manifest["databases"].items():
        await backup.restore(
            targets[target], source / entry["file"], clean=clean, dumped_with=entry["pg_dump"]["major"]
        )
        _out(f"{target}: restored {entry['file']}")
    for target, entry in manifest["databases"].items():
        states = await _status(targets[target], target)
        edited = [s.migration_name for s in states if s.state in ("edited", "unknown")]
        if edited:
            raise backup.BackupError(f"{target}: restored migrations differ from this version's: {edited}")
        applied = [s.migration_name for s in states if s.state == "applied"]
        if applied != entry["migrations"]:
            raise backup.BackupError(f"{target}: the restored migrations are not the manifest's")
        pending = len(states) - len(applied)
        _out(f"{target}: {len(applied)} migrations applied, {pending} newer pending (applied at start-up)")
    checked = await _decrypt_samples(targets["core"], vault)
    _out(f"personal data: {checked} encrypted values decrypted with the configured keys")
    return 0


async def _has_schema(dsn: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        return bool(await conn.fetchval("SELECT to_regclass('caas_meta.schema_migrations') IS NOT NULL"))
    finally:
        await conn.close()


async def _decrypt_samples(dsn: str, vault: Any, per_column: int = 20) -> int:
    """Decrypt a few values of every encrypted column: proof the configured keys read the restore."""
    conn = await asyncpg.connect(dsn)
    checked = 0
    try:
        for schema, table, column in await conn.fetch(_ENCRYPTED):
            rows = await conn.fetch(
                f'SELECT "{column}" AS v FROM "{schema}"."{table}" WHERE "{column}" IS NOT NULL LIMIT $1',
                per_column,
            )
            # The field each value was sealed for: "<table>.<column>" (a replaced secret shares its field).
            field = f"{table}.{column.removesuffix('_encrypted').removesuffix('_previous')}"
            for row in rows:
                try:
                    vault.decrypt(row["v"], field=field)
                except Exception as exc:  # VaultError: a key that differs, or a damaged value
                    raise backup.BackupError(
                        f"{schema}.{table}.{column}: not readable with the configured keys ({exc})"
                    ) from None
                checked += 1
    finally:
        await conn.close()
    return checked
