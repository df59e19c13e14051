"""``caas token`` and ``caas demo``: every role on one machine, and the whole journey as a person reads it."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp_servers.config import SERVER_NAMES, ConfigError, Settings
from tools.platform.principal import Role

__all__ = ["add_parsers", "demo", "http_entries", "token", "write_inspector_config"]

DEFAULT_URL = "http://127.0.0.1:3013/mcp"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token_p = sub.add_parser(
        "token",
        help="print a bearer token for HTTP clients: the local operator's, or one for --role",
        description="With no option, the local operator key `caas serve` created. With --role, a token "
        "signed with this machine's local key (needs CAAS_LOCAL_TOKENS, on by default for the embedded "
        "database).",
    )
    token_p.add_argument("--role", choices=[r.value for r in Role], help="the caller's role")
    token_p.add_argument("--subject", help="who the caller is (default local-<role>)")
    token_p.add_argument("--provider-id", help="the lender a provider token acts for")
    token_p.add_argument("--ttl", default="8h", help="lifetime such as 30m, 8h, 1d (default 8h)")
    token_p.add_argument(
        "--service",
        help="a token for one service's server (`caas serve --service NAME`), not the composed one",
    )
    token_p.add_argument(
        "--inspector-config",
        action="store_true",
        help="write mcp.json's HTTP entries with the token filled in, for the MCP Inspector's --config "
        "(it does not expand ${CAAS_TOKEN}), and print the file's path",
    )
    token_p.add_argument(
        "--port",
        type=int,
        help="with --inspector-config: the port `caas serve` listens on when not the plan's (default "
        "CAAS_PORT); applies to the entry of --service, else to caas-http",
    )
    demo_p = sub.add_parser(
        "demo", help="run the whole journey against a running `caas serve`, one line per step"
    )
    demo_p.add_argument("--url", default=DEFAULT_URL, help=f"the server's MCP URL (default {DEFAULT_URL})")


def token(
    settings: Settings,
    args: argparse.Namespace,
    operator_key: Callable[[Settings], tuple[dict[str, object], str | None]],
) -> int:
    """Prints the token; a refusal is one line on stderr and exit code 2."""
    from mcp_servers.platform.local_tokens import mint_local_token, parse_ttl

    if args.role is None:
        if args.subject or args.provider_id:
            raise ConfigError("--subject, --provider-id and --service go with --role")
        keys, token_path = operator_key(settings)
        if token_path is None:
            raise ConfigError(
                "authentication is configured (JWT or CAAS_SERVICE_API_KEY); there is no local operator "
                "key (`caas token --role operator` where CAAS_LOCAL_TOKENS is on)"
            )
        return _print(settings, args, lambda _server: str(next(iter(keys))))
    if args.service is not None and args.service not in SERVER_NAMES:
        raise ConfigError(f"--service {args.service!r}: use one of {', '.join(SERVER_NAMES)}")
    ttl_s = parse_ttl(args.ttl)

    def minted(server: str) -> str:
        return mint_local_token(
            settings,
            Role(args.role),
            subject=args.subject,
            provider_id=args.provider_id,
            ttl_s=ttl_s,
            server=args.service or server,
        )

    return _print(settings, args, minted)


def _print(settings: Settings, args: argparse.Namespace, token_for: Callable[[str], str]) -> int:
    if not args.inspector_config:
        sys.stdout.write(token_for(args.service or "caas") + "\n")
        return 0
    ports = {}
    if (port := getattr(args, "port", None) or settings.port) is not None:
        ports[args.service or "caas"] = port
    sys.stdout.write(f"{write_inspector_config(settings.data_dir, token_for, ports)}\n")
    return 0


def http_entries(
    token_for: Callable[[str], str], ports: dict[str, int] | None = None
) -> dict[str, dict[str, Any]]:
    """mcp.json's HTTP entries: each server on its plan port (or the one ``ports`` gives),
    ``token_for(server)`` in the header."""
    from mcp_servers.composition import PLAN_PORTS, SERVICES

    entries = {}
    for server in ("caas", *SERVICES):
        name = "caas-http" if server == "caas" else f"caas-{server}-http"
        entries[name] = {
            "type": "http",
            "url": f"http://127.0.0.1:{(ports or {}).get(server, PLAN_PORTS[server])}/mcp",
            "headers": {"Authorization": f"Bearer {token_for(server)}"},
        }
    return entries


def write_inspector_config(
    data_dir: Path, token_for: Callable[[str], str], ports: dict[str, int] | None = None
) -> Path:
    """A private (0600) copy of mcp.json's HTTP entries with real tokens, rewritten at each call."""
    path = data_dir / "inspector-mcp.json"
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as out:
        json.dump({"mcpServers": http_entries(token_for, ports)}, out, indent=2)
        out.write("\n")
    return path


def demo(settings: Settings, url: str) -> int:
    from mcp_servers.demo import run_demo

    return asyncio.run(run_demo(settings, url))
