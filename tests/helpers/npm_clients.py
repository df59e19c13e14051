"""Node clients the tests drive (the TypeScript SDK, the MCP Inspector), each pinned in a test directory's
package-lock.json and installed there once with ``npm ci`` (node_modules is gitignored and reused)."""

from __future__ import annotations

import fcntl
import json
import subprocess
from pathlib import Path


def npm_installed(client_dir: Path, package: str) -> None:
    """``client_dir`` with its lock installed, unless ``package`` is already at the version package.json
    pins. pytest-xdist workers take turns, so one ``npm ci`` runs at a time."""
    pinned = json.loads((client_dir / "package.json").read_text())["dependencies"][package]
    manifest = client_dir / "node_modules" / package / "package.json"
    with (client_dir / "install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not manifest.exists() or json.loads(manifest.read_text())["version"] != pinned:
            done = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"],
                cwd=client_dir,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert done.returncode == 0, done.stderr[-2000:]
