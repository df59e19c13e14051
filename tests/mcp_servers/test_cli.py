"""The ``caas`` command: one-line start-up failures with stable exit codes, and ``db`` commands."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from database import migrate
from tests.helpers.common import caas_command, caas_env, database_env, free_port
from tests.helpers.pgbouncer import core_env


async def caas(*args: str, cwd: Path, **env: str) -> tuple[int, str, str]:
    """Run ``caas args...`` in a clean environment plus ``env``; returns (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *caas_command(),
        *args,
        env=caas_env(CAAS_DATA_DIR=str(cwd / "data"), **env),
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.subprocess
async def test_serve_with_a_non_numeric_port_exits_2_naming_caas_port(tmp_path: Path) -> None:
    code, out, err = await caas("serve", cwd=tmp_path, CAAS_PORT="notaport")
    assert code == 2
    assert "CAAS_PORT" in one_line(err)
    assert out == ""


@pytest.mark.subprocess
async def test_supabase_url_without_neon_url_exits_2_with_one_line(tmp_path: Path) -> None:
    code, out, err = await caas(
        "serve", cwd=tmp_path, SUPABASE_DB_URL="postgresql://postgres@127.0.0.1:5432/postgres"
    )
    assert code == 2
    line = one_line(err)
    assert "NEON_DATABASE_URL" in line
    assert "SUPABASE_DB_URL" in line
    assert out == ""


@pytest.mark.subprocess
async def test_a_database_url_of_another_kind_exits_2_without_echoing_it(tmp_path: Path) -> None:
    code, out, err = await caas("serve", cwd=tmp_path, NEON_DATABASE_URL="mysql://u:s3cret@db.example/caas")
    assert code == 2
    line = one_line(err)
    assert "NEON_DATABASE_URL" in line
    assert "s3cret" not in line
    assert out == ""


@pytest.mark.subprocess
async def test_serving_an_unknown_service_exits_2_naming_the_services(tmp_path: Path) -> None:
    code, out, err = await caas("serve", "--service", "monitor", cwd=tmp_path)
    assert code == 2
    line = one_line(err)
    assert "unknown service 'monitor'" in line
    assert "available: credit, risk" in line and "notifications, monitoring" in line
    assert out == ""


@pytest.mark.subprocess
async def test_unreachable_database_ends_start_up_with_exit_4_and_one_line(tmp_path: Path) -> None:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    code, out, err = await caas(
        "serve", "--port", str(free_port()), cwd=tmp_path, NEON_DATABASE_URL=closed, CAAS_SANDBOX="true"
    )
    assert code == 4
    assert "database" in one_line(err)
    assert out == ""


@pytest.mark.subprocess
async def test_a_configured_database_without_a_gateway_refuses_to_start_unless_the_sandbox_is_asked_for(
    tmp_path: Path,
) -> None:
    # Checked before the database is reached: this URL goes nowhere.
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    code, out, err = await caas("serve", "--port", str(free_port()), cwd=tmp_path, NEON_DATABASE_URL=closed)
    assert code == 2
    line = one_line(err)
    assert "ONASIS_GATEWAY_URL" in line and "CAAS_SANDBOX=true" in line
    assert out == ""


def status_lines(out: str) -> dict[tuple[str, str], str]:
    """``(target, migration) -> state`` from ``caas db status`` output."""
    table: dict[tuple[str, str], str] = {}
    for line in out.splitlines():
        target, name, state, _when = line.split()
        table[(target, name)] = state
    return table


@pytest.fixture
async def fresh_pair(fresh_database: Any) -> dict[str, str]:
    return {**core_env(await fresh_database()), "SUPABASE_DB_URL": await fresh_database()}


@pytest.mark.subprocess
async def test_db_status_then_migrate_then_status_shows_every_migration_applied(
    fresh_pair: dict[str, str], tmp_path: Path
) -> None:
    expected = {(t, m.name) for t in migrate.TARGETS for m in migrate.load(t)}
    assert {t for t, _ in expected} == {"core", "supabase"}

    code, out, err = await caas("db", "status", cwd=tmp_path, **fresh_pair)
    assert code == 0, err
    before = status_lines(out)
    assert set(before) == expected
    assert set(before.values()) == {"pending"}

    code, out, err = await caas("db", "migrate", cwd=tmp_path, **fresh_pair)
    assert code == 0, err
    for target in migrate.TARGETS:
        assert f"{target}: applied {len(migrate.load(target))} migration(s)" in out

    code, out, err = await caas("db", "status", cwd=tmp_path, **fresh_pair)
    assert code == 0, err
    after = status_lines(out)
    assert set(after) == expected
    assert set(after.values()) == {"applied"}


@pytest.mark.subprocess
async def test_db_status_against_the_test_databases_lists_the_migrations_as_applied(
    runtime: object, settings: Any, tmp_path: Path
) -> None:
    code, out, err = await caas(
        "db",
        "status",
        cwd=tmp_path,
        **database_env(settings),
    )
    assert code == 0, err
    table = status_lines(out)
    assert set(table) == {(t, m.name) for t in migrate.TARGETS for m in migrate.load(t)}
    assert set(table.values()) == {"applied"}


@pytest.mark.subprocess
async def test_worker_once_relays_what_is_waiting_in_the_outbox_and_exits_0(
    fresh_pair: dict[str, str], tmp_path: Path
) -> None:
    code, _, err = await caas("db", "migrate", cwd=tmp_path, **fresh_pair)
    assert code == 0, err
    conn = await asyncpg.connect(fresh_pair.get("NEON_DIRECT_URL", fresh_pair["NEON_DATABASE_URL"]))
    try:
        await conn.execute(
            "INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload) "
            "VALUES ('application', 'a-1', 'application.submitted', '{\"application_id\": \"a-1\"}')"
        )
        code, out, err = await caas("worker", "--once", cwd=tmp_path, CAAS_WORKERS="false", **fresh_pair)
        assert code == 2 and "ONASIS_GATEWAY_URL" in one_line(err)  # no private sandbox per worker
        code, out, err = await caas(
            "worker", "--once", cwd=tmp_path, ONASIS_GATEWAY_URL="http://127.0.0.1:9", **fresh_pair
        )
        assert code == 0, err
        assert out.startswith("worker: ") and "item(s) done" in out
        assert await conn.fetchval("SELECT count(*) FROM caas_core.outbox WHERE published_at IS NULL") == 0
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM caas_core.jobs WHERE event_type = 'application.submitted'"
            )
            >= 1
        )
    finally:
        await conn.close()


@pytest.mark.subprocess
async def test_a_port_already_in_use_ends_start_up_with_exit_5_and_no_traceback(
    fresh_pair: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await caas(
            "serve",
            "--port",
            str(port),
            cwd=tmp_path,
            CAAS_REGISTRY="false",
            CAAS_WORKERS="false",
            CAAS_SANDBOX="true",
            **fresh_pair,
        )
    assert code == 5, err
    assert "Traceback" not in err
    assert f"caas: cannot listen on 127.0.0.1:{port}" in err.splitlines()[-1]
