"""The SQL of the loans service: repositories behind ``tools.loans.ports``."""
