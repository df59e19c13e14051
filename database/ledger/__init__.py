"""The SQL of the ledger service: repositories behind ``tools.ledger.ports``."""
