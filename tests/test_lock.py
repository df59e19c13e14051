"""requirements.lock (issue 12, part 7): every package pinned with the hashes of its files, so
``pip install --require-hashes -r requirements.lock`` (CI, the Dockerfile) installs exactly those
files; every dependency pyproject.toml declares is in it; and it says the one command that writes it,
the command docs/operations.md documents."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
COMMAND = (
    "uv pip compile pyproject.toml --all-extras --generate-hashes --python-version 3.11 -o requirements.lock"
)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def entries() -> dict[str, list[str]]:
    """Each pinned package with its hashes."""
    pinned: dict[str, list[str]] = {}
    current: str | None = None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match[1])
            pinned[current] = []
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            pinned[current].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
        elif line and not line.startswith(" ") and not line.startswith("#"):
            raise AssertionError(f"a requirement without a pin and hashes: {line!r}")
    return pinned


def test_every_package_is_pinned_with_the_sha256_of_its_files() -> None:
    pinned = entries()
    assert len(pinned) > 50
    for name, hashes in pinned.items():
        assert hashes, f"{name} has no hash"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name


def test_every_dependency_and_extra_of_pyproject_is_locked_and_the_project_itself_is_not() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        declared.extend(extra)
    pinned = entries()
    missing = [d for d in declared if canonicalize_name(Requirement(d).name) not in pinned]
    assert not missing, f"not in requirements.lock, run: {COMMAND}"
    assert canonicalize_name(project["name"]) not in pinned  # installed after, with --no-deps -e .


def test_the_lock_names_the_command_that_writes_it_and_the_docs_give_the_same() -> None:
    assert COMMAND in (ROOT / "requirements.lock").read_text()
    assert COMMAND in (ROOT / "docs" / "operations.md").read_text()
