"""Payments: disbursements and collections through the Onasis gateway (currency routing,
circuit breakers, the worker that sends transfers exactly once), the vendors' webhooks and the inbox.

Other services may import ``ports``, ``models``, ``domain`` and the modules named in ``__all__``;
every other module is this service's own (``tests/test_layers.py`` holds it).
"""

__all__ = ["cancellation", "domain", "models", "ports", "vendor_events"]
