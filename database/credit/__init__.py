"""The SQL of the credit service: repositories behind ``tools.credit.ports``."""
