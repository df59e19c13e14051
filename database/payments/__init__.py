"""The SQL of the payments service: repositories behind ``tools.payments.ports``."""
