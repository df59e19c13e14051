"""The built wheel is what MCP users install (issue 11, item 10): `uvx caas-mcp serve --stdio` and
`pipx run caas-mcp ...` run its `caas-mcp` console script. The test builds the wheel from the tracked
files, installs it into a fresh virtual environment and runs the stdio server through a client."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from mcp_servers.config import Settings
from tests.helpers.common import REPO_ROOT, caas_env, database_env

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


def run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}: {done.stdout[-1500:]}{done.stderr[-1500:]}"
    return done.stdout


def build_wheel(tmp_path: Path) -> Path:
    """The wheel of the tracked files (a copy, so no stale build/ of the work tree gets in)."""
    source = tmp_path / "source"
    tracked = run("git", "ls-files", "-z", cwd=REPO_ROOT).split("\0")
    for name in filter(None, tracked):
        if (REPO_ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ".", cwd=source)
    (wheel,) = (tmp_path / "dist").glob("caas_mcp-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed. The dependencies are the pinned ones of the
    environment running the tests, reached through a path entry (its own .pth files, such as the
    editable install of this checkout, are not processed there)."""
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    site = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip()
    )
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


async def test_the_wheel_installs_caas_mcp_and_serves_stdio_from_a_fresh_venv(
    settings: Settings, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert "caas-mcp = mcp_servers.cli:main" in scripts and "caas = mcp_servers.cli:main" in scripts
    assert any(n.startswith("database/migrations/") and n.endswith(".sql") for n in names)
    venv = fresh_venv(tmp_path, wheel)
    assert settings.database_url is not None and settings.supabase_db_url is not None
    env = caas_env(
        **database_env(settings),
        CAAS_DATA_DIR=str(tmp_path / "data"),
        CAAS_SANDBOX="true",
    )
    env.pop("PYTHONPATH")  # the installed package, never this checkout
    where = run(
        venv / "bin" / "python", "-c", "import mcp_servers; print(mcp_servers.__file__)", cwd=tmp_path
    )
    assert Path(where.strip()).is_relative_to(venv), where
    transport = StdioTransport(
        command=str(venv / "bin" / "caas-mcp"),
        args=["serve", "--stdio"],
        env=env,
        cwd=str(tmp_path),
        keep_alive=False,
        log_file=tmp_path / "stderr.log",
    )
    async with Client(transport, timeout=60, init_timeout=60) as client:
        assert client.server_info is not None and client.server_info.name == "caas"
        page = await client.call_tool("credit_list_review_queue", {"limit": 1})  # in the operator's view
        assert "items" in page.structured_content
