"""The README's Inspector sample payload is a valid call of the tool it names (issue 11, item 11)."""

from __future__ import annotations

import json
import re
from typing import Any

from fastmcp import Client

from tests.helpers.common import REPO_ROOT
from tools.platform.principal import Role

SAMPLE = re.compile(r"<!-- inspector-sample: (\w+) -->\n```json\n(.*?)\n```", re.DOTALL)


def samples() -> list[tuple[str, dict[str, Any]]]:
    readme = (REPO_ROOT / "README.md").read_text()
    return [(tool, json.loads(body)) for tool, body in SAMPLE.findall(readme)]


async def test_each_inspector_sample_in_the_readme_is_accepted_as_written(
    client: Client, principal: Any
) -> None:
    found = samples()
    assert [tool for tool, _ in found] == ["credit_submit_application"]
    principal("local-operator", Role.OPERATOR)  # the local token's principal
    for tool, argument in found:
        result = await client.call_tool(tool, {"application": argument}, raise_on_error=False)
        assert not result.is_error, result.content
        assert result.structured_content["status"] == "submitted"
