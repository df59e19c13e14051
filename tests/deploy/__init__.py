"""The deployment files (``deploy/``) checked with the real programs: nginx, promtool, docker-compose, pm2."""
