"""``python -m examples.lender_agent``: serve the webhook endpoint until interrupted, then log a summary.

The provider token and the webhook secret come from the environment (``LENDER_TOKEN``,
``LENDER_WEBHOOK_SECRET``), never from the command line, where other users of the machine can read them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn

from examples.lender_agent.agent import LenderAgent
from examples.lender_agent.rules import load_rules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.lender_agent", description=__doc__)
    parser.add_argument("--rules", type=Path, required=True, help="the rule file (.toml or .json)")
    parser.add_argument("--mcp-url", default="http://127.0.0.1:3013/mcp", help="the platform's /mcp URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="where POST /webhook listens")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    token, secret = os.environ.get("LENDER_TOKEN"), os.environ.get("LENDER_WEBHOOK_SECRET")
    if not token or not secret:
        logging.error("set LENDER_TOKEN (caas token --role provider ...) and LENDER_WEBHOOK_SECRET")
        return 2
    try:
        load_rules(args.rules)  # a bad rule file stops the start, not the first invitation
    except (OSError, ValueError) as exc:
        logging.error("cannot use the rule file: %s", exc)
        return 2
    agent = LenderAgent(args.mcp_url, token, secret, args.rules)
    try:
        uvicorn.run(agent.app(), host=args.host, port=args.port, log_level="warning")
    finally:
        agent.log_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
