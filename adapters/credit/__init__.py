"""Systems the credit service reaches outside the database, behind ``tools.credit.ports``."""
