"""A prompt's arguments checked before fastmcp converts them, so a caller's mistake is invalid params.

fastmcp converts each ``prompts/get`` argument with a TypeAdapter of its parameter's annotation; when
that fails it answers -32603 (an internal error) with the value and the annotation's internals in the
message, and logs a traceback holding the value. An argument the prompt does not take reached the
function and failed there (a TypeError, internal too). Here every argument is checked first, as fastmcp
would convert it, and a refusal is -32602 naming the argument and its rule, never the value, logged
without a traceback.
"""

from __future__ import annotations

import inspect
import logging
import re
import typing
from typing import Any

import pydantic
from fastmcp.exceptions import ValidationError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from mcp import types as mcp_types
from pydantic import TypeAdapter

from tools.platform.models import describe_validation_error

__all__ = ["PromptArguments", "refused"]

_NAME = re.compile(r"[a-z_]{1,40}\Z")


def refused(message: str) -> ValidationError:
    """A prompt's or a resource's answer to a caller's mistake: -32602 on the wire, no traceback logged."""
    return ValidationError(message, log_level=logging.DEBUG)


class _Parameters:
    def __init__(self, fn: Any) -> None:
        hints = typing.get_type_hints(fn, include_extras=True)
        params = inspect.signature(fn).parameters
        self.adapters = {name: TypeAdapter(hints[name]) for name in params if name in hints}
        self.required = {n for n, p in params.items() if p.default is inspect.Parameter.empty and n in hints}

    def problems(self, arguments: dict[str, Any]) -> list[str]:
        found = [f"{name}: is required" for name in sorted(self.required - arguments.keys())]
        for name, value in arguments.items():
            adapter = self.adapters.get(name)
            if adapter is None:
                shown = name if isinstance(name, str) and _NAME.match(name) else "an argument"
                found.append(f"{shown}: is not an argument of this prompt")
                continue
            try:
                _convert(adapter, value)
            except pydantic.ValidationError as exc:
                found.append(f"{name}: {describe_validation_error(exc).removeprefix('arguments: ')}")
        return found


def _convert(adapter: TypeAdapter[Any], value: Any) -> None:
    # As fastmcp converts a string argument: the value as it is, else the value read as JSON.
    try:
        adapter.validate_python(value)
    except pydantic.ValidationError:
        if not isinstance(value, str):
            raise
        try:
            adapter.validate_json(value)
        except pydantic.ValidationError:
            adapter.validate_python(value)  # the first refusal names the rule in the value's terms


class PromptArguments(Middleware):
    def __init__(self) -> None:
        self._prompts: dict[str, _Parameters] = {}

    async def on_get_prompt(
        self,
        context: MiddlewareContext[mcp_types.GetPromptRequestParams],
        call_next: CallNext[mcp_types.GetPromptRequestParams, Any],
    ) -> Any:
        params = context.message
        checked = self._prompts.get(params.name)
        if checked is None and context.fastmcp_context is not None:
            try:
                prompt = await context.fastmcp_context.fastmcp.get_prompt(params.name)
            except Exception:  # an unknown name: fastmcp's own answer follows
                prompt = None
            fn = getattr(prompt, "fn", None)
            if fn is not None:
                checked = self._prompts[params.name] = _Parameters(fn)
        if checked is not None:
            problems = checked.problems(dict(params.arguments or {}))
            if problems:
                raise refused("; ".join(problems[:5]))
        return await call_next(context)
