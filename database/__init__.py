"""PostgreSQL: migrations, pools, the embedded server, the unit of work, and one package of
repositories per service behind that service's ``tools.<service>.ports``."""
