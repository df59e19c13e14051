"""A tool's model result dumped once (``ListedTool.convert_result``) is the very result FastMCP's own
conversion makes from it, on the wire too."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

import pytest
from fastmcp.tools import FunctionTool
from pydantic import BaseModel, Field, computed_field, field_serializer

from mcp_servers.tool_schemas import ListedTool


class Colour(StrEnum):
    RED = "red"


class Inner(BaseModel):
    amount: Decimal
    at: datetime


class View(BaseModel):
    id: UUID
    colour: Colour
    when: date
    inner: Inner
    items: list[Inner] = Field(default_factory=list)
    note: str | None = None
    masked: str = Field(serialization_alias="masked_value")
    text: str = 'naïve \u2028 "quoted" </script>'

    @field_serializer("note")
    def _note(self, value: str | None) -> str | None:
        return None if value is None else value.upper()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> Decimal:
        return sum((i.amount for i in self.items), self.inner.amount)


class Wider(View):
    extra: int = 1


def view(cls: type[View] = View) -> View:
    inner = Inner(amount=Decimal("250000.00"), at=datetime(2026, 12, 6, 0, 11, 24, 5, tzinfo=UTC))
    return cls(
        id=UUID(int=7),
        colour=Colour.RED,
        when=date(2026, 12, 6),
        inner=inner,
        items=[inner, inner],
        note="n",
        masked="****1234",
    )


async def show(v: View) -> View:
    return v


@pytest.mark.parametrize("value", [view(), view(Wider)], ids=["declared type", "a subclass (FastMCP's path)"])
def test_a_model_result_is_what_fastmcp_would_make(value: View, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = ListedTool.from_function(show)
    theirs = FunctionTool.convert_result(tool, value)
    if type(value) is View:
        # The declared type takes the one-dump path, not FastMCP's.
        def not_here(self: FunctionTool, raw: object) -> None:
            raise AssertionError("FastMCP's conversion ran")

        monkeypatch.setattr(FunctionTool, "convert_result", not_here)
    ours = tool.convert_result(value)
    assert ours.structured_content == theirs.structured_content
    assert ours.content == theirs.content
    assert ours.meta == theirs.meta and ours.is_error == theirs.is_error
    assert ours.to_mcp_result() == theirs.to_mcp_result()
    assert theirs.structured_content is not None and theirs.structured_content["masked"] == "****1234"
