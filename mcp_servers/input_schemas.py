"""Input schemas an agent can fill in first time: every parameter, nested ones included, says what it
is where the agent reads it, and amounts, rates and dates carry an example of their exact form.

Pydantic writes the description of an optional field (``Amount | None``) inside the non-null branch of
its ``anyOf``, where clients that show a field's description do not look; ``explained`` lifts it to the
property. Amounts and rates are decimal strings and dates ISO strings: an example shows the form once,
where the pattern alone reads as noise.
"""

from __future__ import annotations

from typing import Any

from tools.platform.models import DECIMAL_PATTERN

__all__ = ["AMOUNT_EXAMPLE", "DATETIME_EXAMPLE", "DATE_EXAMPLE", "RATE_EXAMPLE", "explained"]

AMOUNT_EXAMPLE = "250000.00"
RATE_EXAMPLE = "0.24"
DATE_EXAMPLE = "2026-12-31"
DATETIME_EXAMPLE = "2026-12-31T09:00:00Z"
# Decimal fields that are fractions (0.24 = 24%), by the words their names are made of.
_FRACTION_WORDS = {"rate", "share", "dti", "pd"}


def _branches(prop: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a property (itself when it is no union)."""
    options = prop.get("anyOf")
    if not isinstance(options, list):
        return [prop]
    return [o for o in options if isinstance(o, dict) and o.get("type") != "null"]


def _example(name: str, prop: dict[str, Any]) -> str | None:
    for branch in _branches(prop):
        if branch.get("type") != "string":
            continue
        if branch.get("pattern") == DECIMAL_PATTERN:
            fraction = _FRACTION_WORDS & set(name.split("_")) or branch.get("maximum") in (1, 1.0)
            return RATE_EXAMPLE if fraction else AMOUNT_EXAMPLE
        if branch.get("format") == "date":
            return DATE_EXAMPLE
        if branch.get("format") == "date-time":
            return DATETIME_EXAMPLE
    return None


def _explain_property(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    prop = {**prop}
    branches = _branches(prop)
    lone = branches[0] if len(branches) == 1 and branches[0] is not prop else {}
    if "description" not in prop and "description" in lone:
        prop["description"] = lone["description"]
    if "examples" not in prop and not any("examples" in b for b in branches):
        example = _example(name, prop)
        if example is not None:
            prop["examples"] = [example]
    return prop


def explained(schema: Any) -> Any:
    """``schema`` with every property's description at the property and an example on every amount,
    rate and date that has none."""
    if isinstance(schema, list):
        return [explained(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: explained(value) for key, value in schema.items() if key != "properties"}
    properties = schema.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {
            name: _explain_property(name, explained(prop)) if isinstance(prop, dict) else prop
            for name, prop in properties.items()
        }
    return out
