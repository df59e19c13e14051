"""The schema cuts keep what a schema-checking client relies on: the same values pass and fail."""

from __future__ import annotations

from typing import Any

import jsonschema

from mcp_servers.tool_schemas import compact_input_schema, compact_output_schema

MONEY = {
    "description": "An amount.",
    "properties": {
        "amount": {"type": "string", "description": "Decimal string."},
        "currency": {"type": "string"},
    },
    "required": ["amount", "currency"],
    "type": "object",
}
OUTPUT = {
    "title": "Loan",
    "type": "object",
    "required": ["id", "status", "principal", "closed_at", "description", "lines", "grade"],
    "properties": {
        "id": {"type": "string", "format": "uuid", "title": "Id"},
        "status": {"enum": ["active", "closed"], "type": "string"},
        "principal": MONEY,
        "closed_at": {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
            "default": None,
        },
        # a field named like a keyword is a field, and stays
        "description": {"type": "string", "description": "What the borrower wrote."},
        "lines": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        "grade": {"anyOf": [{"const": "A"}, {"type": "null"}]},
    },
}


def _valid(schema: dict[str, Any], value: Any) -> bool:
    return not list(jsonschema.Draft202012Validator(schema).iter_errors(value))


def test_an_output_schema_keeps_fields_types_and_enumerations_only() -> None:
    compact = compact_output_schema(OUTPUT)
    assert compact == {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "status": {"enum": ["active", "closed"], "type": "string"},
            "principal": {"type": "object"},
            "closed_at": {"type": ["string", "null"]},
            "description": {"type": "string"},
            "lines": {"type": "array", "items": {"type": "object"}},
            "grade": {"anyOf": [{"const": "A"}, {"type": "null"}]},
        },
    }
    good = {
        "id": "x",
        "status": "active",
        "principal": {"amount": "1.00", "currency": "ZAR"},
        "closed_at": None,
        "description": "d",
        "lines": [{"n": 1}],
        "grade": None,
    }
    assert _valid(OUTPUT, good) and _valid(compact, good)
    for wrong in (
        {"status": "open"},
        {"closed_at": 3},
        {"principal": "1.00"},
        {"lines": [1]},
        {"grade": "B"},
    ):
        assert not _valid(OUTPUT, good | wrong) and not _valid(compact, good | wrong), wrong


def test_an_optional_input_is_a_type_list_and_keeps_what_the_model_reads() -> None:
    schema = {
        "type": "object",
        "properties": {
            "status": {
                "anyOf": [{"enum": ["a", "b"], "type": "string"}, {"type": "null"}],
                "default": None,
                "description": "Only this status.",
            },
            "limit": {"type": "integer", "default": 20, "maximum": 100},
            "note": {"anyOf": [{"type": "string", "maxLength": 3, "pattern": "^x*$"}, {"type": "null"}]},
        },
        "required": [],
        "additionalProperties": False,
    }
    compact = compact_input_schema(schema)
    assert compact["properties"] == {
        "status": {"enum": ["a", "b", None], "type": ["string", "null"], "description": "Only this status."},
        "limit": {"type": "integer", "default": 20, "maximum": 100},
        "note": {"type": ["string", "null"], "maxLength": 3, "pattern": "^x*$"},
    }
    assert compact["additionalProperties"] is False and compact["required"] == []
    for value in ({"status": None}, {"status": "a"}, {"note": "xx"}, {"note": None}, {}):
        assert _valid(schema, value) and _valid(compact, value), value
    for value in ({"status": "c"}, {"note": "xxxx"}, {"note": "y"}, {"limit": 101}, {"other": 1}):
        assert not _valid(schema, value) and not _valid(compact, value), value
