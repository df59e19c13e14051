"""The schemas a tool lists, cut to what a client must know.

Output schemas were two thirds of ``tools/list`` (issue 11, item 2): the same loan shape of ~9 KB in
four tools, and every amount's field descriptions in every tool that returns one. A client needs an
output schema to check a result and to see which fields it carries and of which JSON type; the meaning
of the fields is in the tool's description. So an output schema keeps the result's fields, their JSON
types and enumerated values, and each nested record or list only as its type, and drops descriptions,
titles, examples, defaults, formats and ``required`` (every field is always present). Optional values
are ``"type": [T, "null"]`` instead of an ``anyOf`` with a null branch (and no ``"default": null``),
in input schemas too.
"""

from __future__ import annotations

from typing import Any

from fastmcp.tools import FunctionTool, ToolResult
from mcp_types import TextContent
from mcp_types import Tool as MCPTool
from pydantic import BaseModel
from pydantic_core import to_json

__all__ = ["ListedTool", "compact_input_schema", "compact_output_schema", "markdown"]

# Keywords that annotate a schema without constraining it (plus ``required`` and ``format``, which an
# output schema need not repeat: a result always carries every field, and a format is advisory).
_OUTPUT_NOISE = frozenset({"description", "title", "examples", "default", "format", "required"})
# Keywords whose value maps names to subschemas, so the names are never taken for keywords.
_NAMED = frozenset({"properties", "patternProperties", "$defs", "definitions"})
_NULL = {"type": "null"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``{"anyOf": [S, {"type": "null"}], ...}`` as S admitting null, when S has one plain type."""
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or len(branches) != 2 or _NULL not in branches:
        return schema
    other = branches[0] if branches[1] == _NULL else branches[1]
    if not isinstance(other, dict) or not isinstance(other.get("type"), str) or "anyOf" in other:
        return schema
    merged = {k: v for k, v in schema.items() if k != "anyOf"} | other
    merged["type"] = [other["type"], "null"]
    if merged.get("default", 0) is None:  # an optional value that is absent is null: saying so is noise
        del merged["default"]
    if "const" in merged:
        merged["enum"] = [merged.pop("const")]
    if "enum" in merged and None not in merged["enum"]:
        merged["enum"] = [*merged["enum"], None]
    return merged


def _walk(schema: Any, drop: frozenset[str]) -> Any:
    if isinstance(schema, list):
        return [_walk(item, drop) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in drop:
            continue
        if key in _NAMED and isinstance(value, dict):
            out[key] = {name: _walk(sub, drop) for name, sub in value.items()}
        else:
            out[key] = _walk(value, drop)
    return _nullable(out)


def _type_only(schema: Any) -> Any:
    """A nested record or list reduced to its JSON type (enumerations and scalars stay as they are)."""
    if not isinstance(schema, dict):
        return schema
    if "anyOf" in schema:
        return {"anyOf": [_type_only(branch) for branch in schema["anyOf"]]}
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "object" in kinds:
        return {"type": kind}
    if "array" in kinds:
        return {"type": kind, "items": _type_only(schema["items"])} if "items" in schema else {"type": kind}
    return schema


def compact_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The result's fields with their JSON types; nested records and lists by type only. ``schema``
    must have its ``$ref``s inlined (``dereference_refs``)."""
    plain: dict[str, Any] = _walk(schema, _OUTPUT_NOISE)
    properties = plain.get("properties")
    if isinstance(properties, dict):
        plain["properties"] = {name: _type_only(sub) for name, sub in properties.items()}
    return plain


def compact_input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The same input schema with each optional value as ``"type": [T, "null"]`` without ``"default":
    null``; every description, example and constraint stays (the model reads them to call the tool)."""
    compact: dict[str, Any] = _walk(schema, frozenset())
    return compact


class ListedTool(FunctionTool):
    """A FunctionTool listed without repeats: no FastMCP ``{"fastmcp": {"tags": []}}`` in every tool's
    ``_meta`` (we use no tags), and its title once, at the top (``annotations.title`` only repeated it)."""

    def get_meta(self) -> dict[str, Any]:
        meta = super().get_meta()
        if meta.get("fastmcp") == {"tags": []}:
            del meta["fastmcp"]
        return meta

    def convert_result(self, raw_value: Any) -> ToolResult:
        """FastMCP serialises a model result four times (the text from the model, the structured dict,
        the text again from that dict, the dict again in ``ToolResult``); a model of the declared return
        type is dumped once here and its text written from that dict: the same result, a third of the
        work (``tests/mcp_servers/test_tool_results.py`` compares the two)."""
        schema = self.output_schema
        if (
            type(raw_value) is self.return_type
            and isinstance(raw_value, BaseModel)
            and schema is not None
            and not schema.get("x-fastmcp-wrap-result")
        ):
            structured = raw_value.model_dump(mode="json")
            text = TextContent(type="text", text=to_json(structured).decode())
            return ToolResult.model_construct(
                content=[text], structured_content=structured, meta=None, is_error=False
            )
        return super().convert_result(raw_value)

    def to_mcp_tool(self, **overrides: Any) -> MCPTool:
        tool = super().to_mcp_tool(**overrides)
        if tool.annotations is not None and tool.annotations.title == tool.title:
            tool.annotations = tool.annotations.model_copy(update={"title": None})
        return tool


def markdown(value: Any) -> Any:
    """``value`` with every description written for Markdown: docstrings mark code reStructuredText's
    way (double backticks), which clients render as Markdown and so show the backticks literally."""
    if isinstance(value, str):
        return value.replace("``", "`")
    if isinstance(value, dict):
        return {
            k: markdown(v) if k == "description" or isinstance(v, dict | list) else v
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [markdown(v) if isinstance(v, dict | list) else v for v in value]
    return value
