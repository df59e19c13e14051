"""A faster way into ``on_call_tool`` for middleware that only hooks typed methods.

FastMCP's ``Middleware.__call__`` builds a fresh chain of three closures on every message
(``on_message`` -> ``on_request`` -> ``on_call_tool``), each one more coroutine frame that every resumption
of the call (each database round trip) passes through again. Our middlewares leave ``on_message`` and
``on_request`` as the base class's pass-throughs, so for ``tools/call`` the chain is equivalent to
calling ``on_call_tool`` directly; every other message takes the base class's path unchanged.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.server.middleware import middleware as _fastmcp_middleware

__all__ = ["DirectCallTool"]

# Which slice of the hooks this dispatch runs ("outer" runs only on_message/on_request). Private in
# fastmcp: without it every message takes the base class's path.
_PHASE: ContextVar[str] | None = getattr(_fastmcp_middleware, "_dispatch_phase", None)


class DirectCallTool(Middleware):
    """A middleware whose ``tools/call`` goes straight to ``on_call_tool``. A subclass may not override
    ``on_message`` or ``on_request``: the shortcut would skip them."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for hook in ("on_message", "on_request"):
            if getattr(cls, hook) is not getattr(Middleware, hook):
                raise TypeError(f"{cls.__name__} overrides {hook}, which DirectCallTool would skip")

    async def __call__(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        if _PHASE is not None and context.method == "tools/call" and _PHASE.get() in ("all", "typed"):
            return await self.on_call_tool(context, call_next)
        return await super().__call__(context, call_next)
