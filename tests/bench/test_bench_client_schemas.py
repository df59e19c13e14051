"""bench/bench_client_schemas.py times, for every tool clients are listed, what its output schema costs
the MCP Python SDK to compile once per session, in the dialect the SDK picks for it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers.common import REPO_ROOT


def test_every_listed_output_schema_is_timed_in_the_dialect_the_sdk_picks(tmp_path: Path) -> None:
    out = tmp_path / "schemas.json"
    script = REPO_ROOT / "bench" / "bench_client_schemas.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--repeat", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(out.read_text())
    listed = json.loads((REPO_ROOT / "docs" / "tools.json").read_text())["tools"]
    with_schema = {name for name, tool in listed.items() if tool.get("outputSchema")}
    assert set(got["tools"]) == with_schema
    # No tool declares a $schema, so the SDK checks each against JSON Schema 2020-12's metaschema.
    assert {r["dialect"] for r in got["tools"].values()} == {"Draft202012Validator"}
    assert all(r["compile_ms"] > 0 for r in got["tools"].values())
    assert 0 < got["compile_ms_borrower_journey"] <= got["compile_ms_all_tools"]
    assert "a journey's borrower (9 tools)" in proc.stdout
