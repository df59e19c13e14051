"""Marketplace: lenders (providers) and their administration, matching, invitations, bidding,
offers ranked by APR and their acceptance, lenders' events in and signed webhooks out.

Other services may import ``ports``, ``models``, ``domain`` and the modules named in ``__all__``;
every other module is this service's own (``tests/test_layers.py`` holds it).
"""

__all__ = ["bid_events", "domain", "models", "offers", "ports", "providers", "reservations"]
