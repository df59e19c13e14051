"""The monitoring dashboard's pure rules: how long an application may stay in each state, and
latency percentiles from Prometheus histogram buckets. No I/O, no clock."""
