"""Ledger: the double-entry journals every money movement posts, balances, statements,
reconciliation and reversals.

Other services may import ``ports``, ``models``, ``domain`` and the modules named in ``__all__``;
every other module is this service's own (``tests/test_layers.py`` holds it).
"""

__all__ = ["domain", "ledger", "models", "ports"]
