"""A reference lender agent: it receives the platform's signed webhooks, prices each invitation with a rule
file and places, revises or declines through the MCP tools with its provider token (issue 13, part 7).

A client of the platform, not a part of it: it imports nothing of the product's packages.
"""

__all__ = ["agent", "rules"]
