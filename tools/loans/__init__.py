"""Loans: origination from the accepted bid, the schedule and APR disclosure, servicing
(repayments, early settlement), aging and write-off, listings and the platform's commission.

Other services may import ``ports``, ``models``, ``domain`` and the modules named in ``__all__``;
every other module is this service's own (``tests/test_layers.py`` holds it).
"""

__all__ = ["domain", "loans", "models", "ports", "servicing"]
