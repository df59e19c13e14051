"""The repository as files: nothing tracked names a path of one particular machine, and every relative
link in the Markdown documents points to a file or directory that exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TEXT_SUFFIXES = {".md", ".py", ".toml", ".yml", ".yaml", ".json", ".cjs", ".sh", ".cfg", ".conf", ".sql"}
TEXT_NAMES = {"Dockerfile", ".ci/run"}
# Built from parts so that this file does not contain what it looks for.
MACHINE_PATHS = tuple("/" + part for part in ("work/", "home/", "root/", "Users/", "tmp/venv"))

# Written by ``python -m mcp_servers.catalog`` (tests/mcp_servers/test_catalog.py keeps it current);
# documents may link to it before a checkout has generated it.
GENERATED = {"docs/tools.md"}

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [name for name in out.decode().split("\0") if name]


def is_text(name: str) -> bool:
    path = Path(name)
    return path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES or name in TEXT_NAMES


def test_no_tracked_file_names_a_path_of_one_machine() -> None:
    found = []
    for name in filter(is_text, tracked_files()):
        path = ROOT / name
        if not path.is_file():  # deleted in the work tree, not yet in the index
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            found.extend(f"{name}:{number}: {p}" for p in MACHINE_PATHS if p in line)
    assert found == []


def relative_links(markdown: str) -> list[str]:
    """Link targets that are paths in this repository (no scheme, no bare anchor), without anchors;
    code blocks and inline code are not links."""
    prose = _INLINE_CODE.sub("", _FENCE.sub("", markdown))
    targets = _LINK.findall(prose) + _REFERENCE.findall(prose)
    paths = []
    for target in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith(("#", "/")):
            continue
        paths.append(target.split("#", 1)[0].split("?", 1)[0])
    return [p for p in paths if p]


def test_the_link_reader_skips_code_urls_and_anchors() -> None:
    text = (
        "See [ops](docs/operations.md#workers) and [site](https://example.com), [top](#map).\n"
        "```ts\nconst x = y[0](z);\n```\n`a[b](c)` and [ref]: CONTRIBUTING.md\n"
    )
    assert relative_links(text) == ["docs/operations.md"]
    assert relative_links("[ref]: CONTRIBUTING.md\n") == ["CONTRIBUTING.md"]


def test_every_relative_link_in_the_documents_exists() -> None:
    broken = []
    for name in tracked_files():
        if not name.endswith(".md") or not (ROOT / name).is_file():
            continue
        source = ROOT / name
        for target in relative_links(source.read_text()):
            resolved = (source.parent / target).resolve()
            if resolved.exists():
                continue
            if resolved.is_relative_to(ROOT) and resolved.relative_to(ROOT).as_posix() in GENERATED:
                continue
            broken.append(f"{name}: {target}")
    assert broken == []


def test_digits_from_outside_are_ascii_digits() -> None:
    """``str.isdigit()`` is true for '²' and '٣', which ``int()`` or ``encode('ascii')`` then refuse: a
    webhook timestamp of '²' was a 500. Every check of text from outside pairs it with ``isascii()``."""
    loose = []
    for package in ("mcp_servers", "tools", "adapters", "database"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                for call in re.finditer(r"(\w+)\.(isdigit|isdecimal|isnumeric)\(\)", line):
                    if f"{call[1]}.isascii() and {call[1]}.{call[2]}()" not in line:
                        loose.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not loose, "\n".join(loose)
