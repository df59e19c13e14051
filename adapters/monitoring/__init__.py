"""Where the monitoring service reads Prometheus samples: this process's registry and sibling
processes' ``/metrics``, behind ``tools.monitoring.ports.MetricsSource``."""
