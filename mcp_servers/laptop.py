"""``caas token`` and ``caas demo``: every role on one machine, and the whole journey as a person reads it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

from mcp_servers.config import SERVER_NAMES, ConfigError, Settings
from tools.platform.principal import Role

__all__ = ["add_parsers", "demo", "token"]

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
        if args.subject or args.provider_id or args.service:
            raise ConfigError("--subject, --provider-id and --service go with --role")
        keys, token_path = operator_key(settings)
        if token_path is None:
            raise ConfigError(
                "authentication is configured (JWT or CAAS_SERVICE_API_KEY); there is no local operator "
                "key (`caas token --role operator` where CAAS_LOCAL_TOKENS is on)"
            )
        sys.stdout.write(f"{next(iter(keys))}\n")
        return 0
    if args.service is not None and args.service not in SERVER_NAMES:
        raise ConfigError(f"--service {args.service!r}: use one of {', '.join(SERVER_NAMES)}")
    minted = mint_local_token(
        settings,
        Role(args.role),
        subject=args.subject,
        provider_id=args.provider_id,
        ttl_s=parse_ttl(args.ttl),
        server=args.service or "caas",
    )
    sys.stdout.write(minted + "\n")
    return 0


def demo(settings: Settings, url: str) -> int:
    from mcp_servers.demo import run_demo

    return asyncio.run(run_demo(settings, url))
