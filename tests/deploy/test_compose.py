"""deploy/docker-compose.integrated.yml and deploy/docker-compose.yml with the real docker-compose
(``config``, which interpolates and validates without a Docker daemon): the committed example env is
refused in one line naming the first secret left empty, and filled in it gives the plan's stack —
every server on its plan port, only nginx publishing a port, restart policies, nginx waiting for the
servers' health, the Onasis stack reached on the host, the personal-data keys in every CaaS container."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_servers.composition import PLAN_PORTS
from mcp_servers.fronts import FRONT_PORTS
from tests.helpers.deploy import DEPLOY, program

EXAMPLE = DEPLOY / ".env.example"
FILES = {"integrated": "docker-compose.integrated.yml", "local": "docker-compose.yml"}
FIRST_REQUIRED = {"integrated": "NEON_DATABASE_URL", "local": "CAAS_PII_KEYS"}


def compose_config(file: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` with ``env_file`` as the env file, in an environment without any of its
    variables (the test run's own PII keys included)."""
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", EXAMPLE.read_text(), re.MULTILINE))
    env = {k: v for k, v in os.environ.items() if k not in names and not k.startswith(("CAAS_", "NEON_"))}
    env["CAAS_ENV_FILE"] = str(env_file)
    command = [program("docker-compose"), "--env-file", str(env_file), "-f", str(DEPLOY / file), "config"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def filled_in(tmp_path: Path) -> Path:
    """The example with every required value filled in as its comments say, and one optional setting
    uncommented."""
    key = lambda: base64.b64encode(os.urandom(32)).decode()  # noqa: E731
    values = {
        "NEON_DATABASE_URL": "postgresql://caas:secret@db.example.com/caas",
        "CAAS_PII_KEYS": f"k1:{key()}",
        "CAAS_PII_ACTIVE_KEY_ID": "k1",
        "CAAS_PII_INDEX_KEY": key(),
        "CAAS_JWT_SECRET": secrets.token_urlsafe(40),
        "CAAS_SERVICE_API_KEY": secrets.token_urlsafe(24),
        "PAYSTACK_SECRET_KEY": "sk_live_" + secrets.token_hex(16),
    }
    text = EXAMPLE.read_text()
    for name, value in values.items():
        text, n = re.subn(rf"^{name}=$", f"{name}={value}", text, flags=re.MULTILINE)
        assert n == 1, name
    text = text.replace("# CAAS_LOG_LEVEL=INFO", "CAAS_LOG_LEVEL=WARNING")
    path = tmp_path / ".env"
    path.write_text(text)
    return path


@pytest.mark.parametrize("stack", FILES)
def test_the_example_env_is_refused_in_one_line_naming_the_first_empty_secret(stack: str) -> None:
    done = compose_config(FILES[stack], EXAMPLE)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    name = FIRST_REQUIRED[stack]
    assert len(lines) == 1 and lines[0].endswith(f"set {name} in deploy/.env (see deploy/.env.example)"), (
        lines
    )


def rendered(stack: str, tmp_path: Path) -> dict[str, Any]:
    done = compose_config(FILES[stack], filled_in(tmp_path))
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_the_integrated_stack_runs_each_server_on_its_plan_port_behind_nginx(tmp_path: Path) -> None:
    services = rendered("integrated", tmp_path)["services"]
    servers = {name: s for name, s in services.items() if name.startswith("caas-") and name != "caas-worker"}
    ports = {name: int(s["environment"]["CAAS_PORT"]) for name, s in servers.items()}
    assert ports == {
        **{("caas-core" if n == "caas" else f"caas-{n}"): p for n, p in PLAN_PORTS.items()},
        **{f"caas-front-{n}": p for n, p in FRONT_PORTS.items()},
    }
    for name, service in servers.items():
        if name.startswith("caas-front-"):
            assert service["command"] == ["caas", "serve", "--front", name.removeprefix("caas-front-")]
            # The pages call /mcp on the public origin: its host is allowed (CAAS_PUBLIC_URL's).
            assert service["environment"]["CAAS_PUBLIC_URL"] == "http://localhost/mcp"
            continue
        service_name = "caas" if name == "caas-core" else name.removeprefix("caas-")
        expected = ["caas", "serve"] + ([] if service_name == "caas" else ["--service", service_name])
        assert service["command"] == expected
    assert services["caas-worker"]["command"] == ["caas", "worker"]
    assert {name for name, s in services.items() if s.get("ports")} == {"nginx"}
    assert all(s["restart"] == "unless-stopped" for s in services.values())
    assert services["nginx"]["depends_on"] == {name: {"condition": "service_healthy"} for name in servers}
    for name in [*servers, "caas-worker", "nginx"]:
        assert "host.docker.internal:host-gateway" in services[name]["extra_hosts"], name
    for name in [*servers, "caas-worker"]:
        env = services[name]["environment"]
        assert {"CAAS_PII_KEYS", "CAAS_PII_ACTIVE_KEY_ID", "CAAS_PII_INDEX_KEY"} <= set(env), name
        assert env["CAAS_WORKERS"] == "false" and env["CAAS_LOG_LEVEL"] == "WARNING"  # the env file's
        assert env["ONASIS_GATEWAY_URL"] == "http://host.docker.internal:3000"


def test_the_local_stack_publishes_only_nginx(tmp_path: Path) -> None:
    services = rendered("local", tmp_path)["services"]
    assert {name for name, s in services.items() if s.get("ports")} == {"nginx"}
    assert all(s["restart"] == "unless-stopped" for s in services.values())
    env = services["caas"]["environment"]
    assert env["NEON_DATABASE_URL"].endswith("@postgres:5432/caas")  # its own database, not the env file's
    assert {"CAAS_PII_KEYS", "CAAS_PII_ACTIVE_KEY_ID", "CAAS_PII_INDEX_KEY", "CAAS_TRUSTED_PROXIES"} <= set(
        env
    )
