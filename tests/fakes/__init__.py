"""In-memory fakes of the ports (the cosmicpython "fake unit of work"): a store of tables, a unit of work
that commits on a clean exit and discards on an exception, the readers and writers the use cases under
fast test call, and each service's dependency dataclass built from them (``tests.fakes.deps``). Tests of
use-case rules run on them in milliseconds; what only PostgreSQL or the wire proves (SQL, constraints,
concurrency, the MCP surface) stays in ``tests/database`` and ``tests/mcp_servers``."""
