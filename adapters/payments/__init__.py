"""Systems the payments service reaches outside the database, behind ``tools.payments.ports``."""
