"""The SQL of the risk service: repositories behind ``tools.risk.ports``."""
