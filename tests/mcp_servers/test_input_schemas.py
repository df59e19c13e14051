"""Issue 11, item 3: inputs an agent fills in right the first time. Every amount, rate and date in every
tool's input carries an example of its exact form; the nested inputs of simulate_score, update_provider
and revise_bid describe every field and carry whole examples that the tool accepts; an application or
loan is shown with a reference. Before, optional decimals inside ``changes`` had no description at all
(pydantic wrote none for them) and no input had an example but the currency.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any

import jsonschema
import pytest
from fastmcp import Client

from mcp_servers.composition import build_server
from mcp_servers.runtime import Runtime
from tools.platform.models import DECIMAL_PATTERN, REFERENCE_PATTERN
from tools.platform.principal import Role

NESTED = {
    "risk_simulate_score": ("inputs", {}),
    "admin_update_provider": ("changes", {"provider": str(uuid.uuid4())}),
    "providers_revise_bid": ("changes", {"bid": str(uuid.uuid4())}),
}


def _properties(schema: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every property at every depth, with its dotted path."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(schema, dict):
        for name, prop in (schema.get("properties") or {}).items():
            found.append((f"{path}.{name}", prop))
            found.extend(_properties(prop, f"{path}.{name}"))
        for key in ("items", "anyOf"):
            options = schema.get(key)
            for option in options if isinstance(options, list) else [options]:
                found.extend(_properties(option, path))
    return found


def _kind(prop: dict[str, Any]) -> str | None:
    for branch in [prop, *(prop.get("anyOf") or [])]:
        if branch.get("pattern") == DECIMAL_PATTERN:
            return "decimal"
        if branch.get("format") in ("date", "date-time"):
            return str(branch["format"])
    return None


def _fits(kind: str, example: Any) -> bool:
    if kind == "decimal":
        return isinstance(example, str) and re.fullmatch(DECIMAL_PATTERN[1:-1], example) is not None
    parse = date.fromisoformat if kind == "date" else datetime.fromisoformat
    return isinstance(example, str) and bool(parse(example))


async def _tools(runtime: Runtime) -> dict[str, Any]:
    return {t.name: t for t in await build_server(runtime).list_tools(run_middleware=False)}


async def test_every_amount_rate_and_date_shows_its_form_by_example(runtime: Runtime) -> None:
    missing, wrong = [], []
    for name, tool in (await _tools(runtime)).items():
        for path, prop in _properties(tool.parameters):
            kind = _kind(prop)
            if kind is None:
                continue
            examples = prop.get("examples")
            if not examples:
                missing.append(f"{name} {path}")
            elif not all(_fits(kind, e) for e in examples):
                wrong.append(f"{name} {path} {examples}")
    assert not missing and not wrong, (missing, wrong)


@pytest.mark.parametrize("tool_name", sorted(NESTED))
async def test_nested_inputs_describe_every_field_and_their_examples_are_accepted(
    runtime: Runtime, tool_name: str
) -> None:
    tool = (await _tools(runtime))[tool_name]
    field, others = NESTED[tool_name]
    nested = tool.parameters["properties"][field]
    undescribed = [path for path, prop in _properties(nested) if "description" not in prop]
    assert not undescribed, undescribed
    assert nested.get("examples"), f"{tool_name}.{field} has no example"
    for example in nested["examples"]:
        jsonschema.validate({**others, field: example}, tool.parameters)


async def test_the_examples_of_a_nested_input_pass_the_servers_own_validation(
    runtime: Runtime, principal: Any
) -> None:
    """A schema check alone would pass a stale example the model refuses: simulate_score runs on it."""
    tool = (await _tools(runtime))["risk_simulate_score"]
    principal("examples-operator", Role.OPERATOR)
    async with Client(build_server(runtime)) as client:
        for example in tool.parameters["properties"]["inputs"]["examples"]:
            result = await client.call_tool("risk_simulate_score", {"inputs": example}, raise_on_error=False)
            assert not result.is_error, result.content


async def test_applications_and_loans_are_shown_by_reference(runtime: Runtime) -> None:
    tools = await _tools(runtime)
    for name, field in [("credit_get_application", "application"), ("credit_get_loan", "loan")]:
        examples = tools[name].parameters["properties"][field]["examples"]
        assert all(re.fullmatch(REFERENCE_PATTERN[1:-1], e) and e.startswith("CAAS-") for e in examples)


async def test_a_decimal_parameter_keeps_the_description_its_code_gives(runtime: Runtime) -> None:
    """The decimal string's schema used to replace the field's whole schema, description included:
    collect_repayment's amount and update_application's incomes reached agents undescribed."""
    tools = await _tools(runtime)
    amount = tools["payments_collect_repayment"].parameters["properties"]["amount"]
    assert "major units" in amount["description"], amount
    changes = tools["credit_update_application"].parameters["properties"]["changes"]["properties"]
    assert changes["monthly_income"]["description"] == "Gross monthly income."


async def test_every_parameter_of_every_tool_is_described_at_every_depth(runtime: Runtime) -> None:
    undescribed = [
        f"{name}{path}"
        for name, tool in (await _tools(runtime)).items()
        for path, prop in _properties(tool.parameters)
        if "description" not in prop
    ]
    assert not undescribed, undescribed
