"""The SQL of the marketplace service: repositories behind ``tools.marketplace.ports``.

``bids`` is public: an application's writer ends its active bids with the bids' own row mapping.
``providers`` is public: the loan writer reads a loan's lender with the providers' own columns and
row mapping (``PROVIDER_COLUMNS``, ``provider_record``).
"""

__all__ = ["bids", "providers"]
