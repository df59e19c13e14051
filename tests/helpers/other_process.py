"""A change made by another process: run as ``python -m tests.helpers.other_process <core dsn> <supabase
dsn> <data dir> <borrower> <application> <direct core dsn>``, it withdraws the application through the
use case on a Runtime of its own (its own pools, nothing shared with the test's server but the
database)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mcp_servers.config import load_settings
from mcp_servers.runtime import Runtime
from tools.credit import applications
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role


async def withdraw(
    core: str, supabase: str, data_dir: str, borrower: str, application: str, direct: str
) -> None:
    settings = load_settings(
        database_url=core,
        direct_url=direct if direct != core else None,  # core through PgBouncer in the pooled run
        supabase_db_url=supabase,
        data_dir=Path(data_dir),
        workers=False,
    )
    runtime = Runtime(settings)
    async with runtime.session():
        call = Invocation(Principal(borrower, Role.BORROWER), "tests.other_process", "0" * 64)
        await applications.withdraw_application(
            runtime.deps.credit, call, application, "found the money elsewhere"
        )


if __name__ == "__main__":
    asyncio.run(withdraw(*sys.argv[1:7]))
