"""PostgreSQL: migrations, pools, the embedded server and the repositories behind ``tools.credit.ports``."""
