"""Transport: the FastMCP servers, their composition, auth, error mapping and the ``caas`` CLI."""

import os

# Before fastmcp is imported anywhere: no banner (it would corrupt stdio), no update check (a network
# call at start-up), and fastmcp's own chatter only from warnings up.
os.environ.setdefault("FASTMCP_SHOW_SERVER_BANNER", "false")
os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")
os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")
