"""``docs/tools.md`` is what ``python -m mcp_servers.catalog`` writes now, and what it says about each tool
is read correctly from the code: the server module, the use case(s) and their domain rules.

No database: the catalog builds a runtime it never starts.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

import pytest

from mcp_servers.catalog import REFERENCE, generate
from mcp_servers.composition import SERVICES
from mcp_servers.tool_docs import ROOT, read_tool
from tools.marketplace import offers
from tools.risk import assessments

# A path in the reference, with the name it points at when there is one: `tools/x/y.py::name`.
REF = re.compile(r"`((?:mcp_servers|tools)/[\w/]+\.py)(?:::([\w.]+))?`")


@pytest.fixture(scope="module")
def reference() -> str:
    return generate()[REFERENCE]


def tool_fn(server: str, name: str) -> Callable[..., Any]:
    return next(s.fn for ts in SERVICES[server] for s in ts.specs if s.fn.__name__ == name)


def section(text: str, tool: str) -> str:
    start = text.index(f"\n### {tool}\n")
    end = text.find("\n### ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_reference_is_what_the_generator_writes_now(reference: str) -> None:
    written = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    assert written == reference, f"{REFERENCE} is stale: run python -m mcp_servers.catalog"


def test_accept_offer_is_traced_to_its_module_use_case_and_marketplace_rules(reference: str) -> None:
    code = read_tool(tool_fn("providers", "accept_offer"))
    assert code.module == "mcp_servers/marketplace/offers.py"
    assert [case.ref for case in code.use_cases] == ["tools/marketplace/offers.py::accept_offer"]
    (case,) = code.use_cases
    assert case.awaited and case.problem is None
    assert any(rule.startswith("tools/marketplace/domain/") for rule in case.rules), case.rules
    # Its own module's helpers are read with it; other modules' functions are not domain rules.
    assert "_accept_locked" in case.helpers
    assert all(re.match(r"tools/\w+/domain/", rule) for rule in case.rules)
    text = section(reference, "providers_accept_offer")
    assert "| Single-server name | `accept_offer` on `caas-providers` |" in text
    assert "| Server module | `mcp_servers/marketplace/offers.py` |" in text
    assert "| Use case | `tools/marketplace/offers.py::accept_offer` |" in text
    assert "| Annotations | read-only: no, destructive: yes, idempotent: no |" in text
    assert "| Roles | agent, borrower |" in text


def test_rules_named_in_the_use_case_itself_are_found() -> None:
    (case,) = read_tool(tool_fn("providers", "compare_offers")).use_cases
    assert "tools/marketplace/domain/offers.py::rank_offers" in case.rules
    assert "tools/marketplace/domain/offers.py::OfferCandidate" in case.rules
    assert "tools/credit/domain/lifecycle.py::ApplicationStatus" in case.rules  # another service's domain


def test_a_use_case_called_without_await_and_a_model_built_by_the_tool_are_reported(reference: str) -> None:
    (case,) = read_tool(tool_fn("risk", "simulate_score")).use_cases
    assert case.ref == "tools/risk/assessments.py::simulate_score"
    assert not case.awaited
    assert "tools/risk/domain/scorecard.py::score" in case.rules
    assert "(called without await)" in section(reference, "risk_simulate_score")
    code = read_tool(tool_fn("credit", "expire_stale_applications"))
    assert code.other_calls == ("tools/credit/models/applications.py::ExpiryReport",)


async def _calls_two_use_cases(deps: Any, who: Any) -> Any:  # read, never run
    comparison = await offers.compare_offers(deps, who, "CAAS-1")
    return comparison, assessments.simulate_score(deps, who)


async def _calls_no_use_case(handle: str) -> str:  # read, never run
    offers = str.upper  # a local name shadows the module
    return offers(handle)


def test_every_use_case_a_tool_calls_is_listed_in_order_and_none_is_said_so() -> None:
    code = read_tool(_calls_two_use_cases)
    assert code.module == "tests/mcp_servers/test_tool_docs.py"
    assert [(c.ref, c.awaited) for c in code.use_cases] == [
        ("tools/marketplace/offers.py::compare_offers", True),
        ("tools/risk/assessments.py::simulate_score", False),
    ]
    assert read_tool(_calls_no_use_case).use_cases == ()


def test_every_tool_section_names_files_and_names_that_exist(reference: str) -> None:
    tools = re.findall(r"^### (\w+)$", reference, flags=re.MULTILINE)
    assert len(tools) == sum(len(ts.specs) for toolsets in SERVICES.values() for ts in toolsets)
    for tool in tools:
        text = section(reference, tool)
        found = REF.findall(text)
        assert any(path.startswith("mcp_servers/") for path, _ in found), tool
        assert "| Use case |" in text, tool
        for path, name in found:
            assert (ROOT / path).is_file(), f"{tool}: {path}"
            if name:
                target: Any = importlib.import_module(path.removesuffix(".py").replace("/", "."))
                for part in name.split("."):
                    target = getattr(target, part)
