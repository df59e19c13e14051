"""The SQL of the marketplace service: repositories behind ``tools.marketplace.ports``.

``bids`` is public: an application's writer ends its active bids with the bids' own row mapping.
``providers`` is public: the loan writer reads a loan's lender with the providers' own columns and
row mapping (``PROVIDER_COLUMNS``, ``provider_record``).
``capital_at_commit`` is public: the unit of work collects the capital given back to lenders and
writes it with COMMIT, and the payments writer forgets what a rolled-back savepoint gave back.
"""

__all__ = ["bids", "capital_at_commit", "providers"]
