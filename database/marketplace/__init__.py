"""The SQL of the marketplace service: repositories behind ``tools.marketplace.ports``.

``bids`` is public: an application's writer ends its active bids with the bids' own row mapping.
"""

__all__ = ["bids"]
