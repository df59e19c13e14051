"""``caas registry server-json``: one official MCP Registry server.json per server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mcp_servers.composition import SERVICES, package_version
from mcp_servers.config import Settings, load_settings
from mcp_servers.platform.registration import (
    PACKAGE,
    SERVER_SCHEMA_URL,
    server_json,
    server_name,
    write_server_json,
)
from tests.helpers.common import REPO_ROOT, caas_command, caas_env

# The parts of the official schema (modelcontextprotocol/registry, docs/reference/server-json,
# 2025-12-11) our server.json touches: ServerDetail's required fields and limits, a package (its
# required fields, arguments and environment variables) and a remote's type and URL.
SERVER_DETAIL = {
    "$defs": {
        "input": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "description": {"type": "string"},
                "isRequired": {"type": "boolean"},
                "isSecret": {"type": "boolean"},
                "format": {"enum": ["string", "number", "boolean", "filepath"]},
                "default": {"type": "string"},
                "choices": {"type": "array", "items": {"type": "string"}},
            },
        },
        "argument": {
            "anyOf": [
                {
                    "type": "object",
                    "required": ["type", "value"],
                    "properties": {"type": {"const": "positional"}, "value": {"type": "string"}},
                },
                {
                    "type": "object",
                    "required": ["type", "name"],
                    "properties": {
                        "type": {"const": "named"},
                        "name": {"type": "string"},
                        "value": {"type": "string"},
                    },
                },
            ]
        },
    },
    "type": "object",
    "required": ["name", "description", "version"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "name": {
            "type": "string",
            "pattern": r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$",
            "minLength": 3,
            "maxLength": 200,
        },
        "description": {"type": "string", "minLength": 1, "maxLength": 100},
        "title": {"type": "string", "minLength": 1, "maxLength": 100},
        "version": {"type": "string", "maxLength": 255, "not": {"pattern": r"^[\^~><=]|\.x$|\*"}},
        "packages": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["registryType", "identifier", "version", "transport"],
                "properties": {
                    "registryType": {"type": "string"},
                    "registryBaseUrl": {"type": "string", "format": "uri"},
                    "identifier": {"type": "string"},
                    "version": {"type": "string", "minLength": 1, "not": {"const": "latest"}},
                    "runtimeHint": {"type": "string"},
                    "transport": {"type": "object", "required": ["type"]},
                    "packageArguments": {"type": "array", "items": {"$ref": "#/$defs/argument"}},
                    "environmentVariables": {"type": "array", "items": {"$ref": "#/$defs/input"}},
                },
            },
        },
        "remotes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "url"],
                "properties": {
                    "type": {"enum": ["streamable-http", "sse"]},
                    "url": {
                        "type": "string",
                        "pattern": r"^(https?://[^\s]+|\{[a-zA-Z_][a-zA-Z0-9_]*\}[^\s]*)$",
                    },
                    "headers": {
                        "type": "array",
                        "items": {"type": "object", "required": ["name"]},
                    },
                },
            },
        },
    },
}


def valid(document: dict[str, Any]) -> None:
    jsonschema.validate(document, SERVER_DETAIL)


def test_the_composed_server_json_is_valid_and_points_at_the_streamable_http_url(settings: Settings) -> None:
    document = server_json(settings, None)
    valid(document)
    assert document["$schema"] == SERVER_SCHEMA_URL
    assert document["name"] == "io.github.onasis/caas"
    assert document["version"] == package_version()
    assert document["remotes"][0]["type"] == "streamable-http"
    assert document["remotes"][0]["url"] == "http://127.0.0.1:3013/mcp"


def test_each_service_gets_its_own_name_plan_port_and_description(settings: Settings) -> None:
    documents = [server_json(settings, service) for service in SERVICES]
    for document in documents:
        valid(document)
    assert "io.github.onasis/caas-risk" in {d["name"] for d in documents}
    risk = next(d for d in documents if d["name"].endswith("/caas-risk"))
    assert risk["remotes"][0]["url"] == "http://127.0.0.1:3005/mcp"
    assert len({d["description"] for d in documents}) == len(documents)


def test_the_namespace_and_public_url_come_from_the_settings(settings: Settings) -> None:
    custom = settings.model_copy(
        update={
            "registry_namespace": "com.example.lending",
            "public_url": "https://{service}.lending.example.com/mcp",
        }
    )
    document = server_json(custom, "credit")
    valid(document)
    assert document["name"] == "com.example.lending/caas-credit"
    assert document["remotes"][0]["url"] == "https://caas-credit.lending.example.com/mcp"


def test_the_remote_says_a_bearer_token_is_required_and_secret(settings: Settings) -> None:
    (header,) = server_json(settings, None)["remotes"][0]["headers"]
    assert header["name"] == "Authorization"
    assert header["isRequired"] is True and header["isSecret"] is True


def test_files_are_written_one_directory_per_server(settings: Settings, tmp_path: Path) -> None:
    written = write_server_json(settings, tmp_path, SERVICES)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        "caas/server.json",
        *(f"caas-{s}/server.json" for s in SERVICES),
    }
    for path in written:
        valid(json.loads(path.read_text()))


async def caas(*args: str, cwd: Path, **env: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *caas_command(),
        *args,
        env=caas_env(CAAS_DATA_DIR=str(cwd / "data"), **env),
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.subprocess
async def test_caas_registry_server_json_writes_every_server_and_lists_the_files(tmp_path: Path) -> None:
    code, out, err = await caas(
        "registry",
        "server-json",
        "--out",
        str(tmp_path / "listing"),
        cwd=tmp_path,
        CAAS_REGISTRY_NAMESPACE="io.github.example",
        CAAS_PUBLIC_URL="https://caas.example.com/{service}/mcp",
    )
    assert code == 0, err
    paths = [Path(line) for line in out.splitlines()]
    assert len(paths) == 1 + len(SERVICES)
    documents = [json.loads(p.read_text()) for p in paths]
    for document in documents:
        valid(document)
    composed = next(d for d in documents if d["name"] == "io.github.example/caas")
    assert composed["remotes"][0]["url"] == "https://caas.example.com/caas/mcp"


@pytest.mark.subprocess
async def test_a_namespace_that_is_not_reverse_dns_exits_2_naming_the_variable(tmp_path: Path) -> None:
    code, out, err = await caas("registry", "server-json", cwd=tmp_path, CAAS_REGISTRY_NAMESPACE="onasis")
    assert code == 2
    assert "CAAS_REGISTRY_NAMESPACE" in err
    assert out == ""


@pytest.mark.parametrize("namespace", ["io.github.onasis", "com.example-corp.caas"])
def test_reverse_dns_namespaces_are_accepted(namespace: str) -> None:
    assert load_settings(registry_namespace=namespace).registry_namespace == namespace


def command_line(package: dict[str, Any]) -> list[str]:
    """The arguments a client builds from a package's packageArguments."""
    line: list[str] = []
    for argument in package["packageArguments"]:
        line += [argument["value"]] if argument["type"] == "positional" else [argument["name"]]
        if argument["type"] == "named" and "value" in argument:
            line.append(argument["value"])
    return line


def test_each_server_json_offers_the_pypi_package_over_stdio_as_mcp_json_runs_it(settings: Settings) -> None:
    mcp_json = json.loads((REPO_ROOT / "mcp.json").read_text())["mcpServers"]
    read = {
        name
        for field in Settings.model_fields.values()
        for name in getattr(field.validation_alias, "choices", ())
    }
    for service in [None, *SERVICES]:
        (package,) = server_json(settings, service)["packages"]
        assert (package["registryType"], package["identifier"]) == ("pypi", PACKAGE)
        assert package["registryBaseUrl"] == "https://pypi.org" and package["runtimeHint"] == "uvx"
        assert package["version"] == package_version() and package["transport"] == {"type": "stdio"}
        assert command_line(package) == mcp_json[server_name(service)]["args"]
        variables = [v["name"] for v in package["environmentVariables"]]
        assert set(variables) <= read, "every variable offered is one the server reads"
        assert {"CAAS_STDIO_ROLE", "NEON_DATABASE_URL", "SUPABASE_DB_URL"} <= set(variables)


def test_the_readme_names_every_server_for_the_registrys_pypi_ownership_check() -> None:
    # The registry accepts a PyPI package for a server only if the package's README says
    # "mcp-name: <server name>"; the README is the package's long description.
    readme = (REPO_ROOT / "README.md").read_text()
    namespace = Settings.model_fields["registry_namespace"].default
    for service in [None, *SERVICES]:
        assert f"mcp-name: {namespace}/{server_name(service)}\n" in readme, server_name(service)
