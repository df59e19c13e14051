"""Systems the marketplace service reaches outside the database, behind ``tools.marketplace.ports``."""
