"""The SQL of the monitoring service: read-only queries behind ``tools.monitoring.ports``."""
