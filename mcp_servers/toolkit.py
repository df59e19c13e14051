"""How a use case becomes an MCP tool: role gate, audit identity, coded errors, metrics."""

from __future__ import annotations

import difflib
import functools
import logging
import re
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from fastmcp.exceptions import NotFoundError, ToolError, ValidationError
from fastmcp.server.dependencies import get_context
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import FunctionTool, ToolResult
from fastmcp.utilities.json_schema import dereference_refs
from mcp_types import CallToolRequestParams, ListToolsRequest, TextContent, ToolAnnotations
from prometheus_client import Counter, Histogram
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import to_jsonable_python

from database.unit_of_work import retry_transient
from mcp_servers.input_schemas import explained
from mcp_servers.platform.auth import PrincipalSource
from mcp_servers.platform.request_context import current_request_id
from mcp_servers.tool_schemas import ListedTool, compact_input_schema, compact_output_schema, markdown
from tools.platform.errors import DomainError, NotFound, PermissionDenied
from tools.platform.idempotency import request_sha256
from tools.platform.models import describe_validation_error
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role

if TYPE_CHECKING:
    from mcp_servers.runtime import Runtime
    from mcp_servers.wiring import Dependencies

__all__ = [
    "ERROR_CODE_META",
    "CaasToolError",
    "ErrorMapping",
    "RoleVisibility",
    "ToolSet",
    "ToolSpec",
    "as_tool",
    "current_runtime",
    "deps",
    "internal_error",
    "invocation",
    "markdown",
    "principal",
]

log = logging.getLogger("caas.tools")
ROLES_META = "caas/roles"
P = ParamSpec("P")
R = TypeVar("R")

TOOL_SECONDS = Histogram("caas_tool_call_seconds", "Tool call latency", ["tool", "outcome"])
TOOL_ERRORS = Counter("caas_tool_errors_total", "Tool calls that ended in an error", ["tool", "code"])


class CaasToolError(ToolError):
    """A ToolError that carries a stable code; ErrorMapping turns it into an error result."""

    def __init__(self, code: str, message: str, *, literal: bool = False) -> None:
        super().__init__(f"{code}: {message}", log_level=logging.DEBUG)
        self.code = code
        self.message = message
        # A message that quotes the caller's own words (an unknown tool name) is not re-rendered.
        self.literal = literal


def _internal(tool: str, exc: BaseException) -> CaasToolError:
    # The caller's X-Request-ID (or the one made for this call), so the message, the log line and the
    # audit row name the same request.
    request_id = current_request_id()
    sqlstate = getattr(exc, "sqlstate", None)
    # The exception message may quote SQL or row values (personal data), so only its type, SQLSTATE
    # and stack frames reach the log; the request id, tool and subject come with the line.
    log.error(
        "tool %s failed with %s%s",
        tool,
        type(exc).__name__,
        f" sqlstate={sqlstate}" if sqlstate else "",
        extra={"stack": "".join(traceback.format_tb(exc.__traceback__))},
    )
    if isinstance(exc, OSError | TimeoutError) or (sqlstate or "").startswith(("08", "57P")):
        return CaasToolError(
            "unavailable",
            f"a service this tool depends on is not reachable (request {request_id}); nothing was "
            "changed, retry in a few seconds",
        )
    return CaasToolError(
        "internal",
        f"the server could not complete {tool} (request {request_id}); retry once, and if it fails again "
        "report the request id to the operator",
    )


def internal_error(name: str, exc: BaseException) -> CaasToolError:
    """What an unexpected failure outside a tool function (a resource read) answers, logged and
    quoting the request id as a tool's is."""
    return _internal(name, exc)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as its module declares it: the use-case function and who may call it."""

    fn: Callable[..., Awaitable[Any]]
    roles: frozenset[Role]
    title: str
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = False
    # Arguments the tool no longer takes, each with what to send or call instead.
    retired: tuple[tuple[str, str], ...] = ()


class ToolSet:
    """The tools of one module, declared at module level with ``@TOOLS.tool(...)``.

    Declaring changes nothing: ``mcp_servers.composition`` decides which server carries which tool sets and
    makes each spec an MCP tool there (``as_tool``). A tool reaches the running process through
    ``deps()``, ``invocation()`` and ``principal()``, which read the call's context.
    """

    def __init__(self) -> None:
        self.specs: list[ToolSpec] = []

    def tool(
        self,
        *,
        roles: Iterable[Role],
        title: str,
        read_only: bool,
        destructive: bool = False,
        idempotent: bool = False,
        open_world: bool = False,
        retired: dict[str, str] | None = None,
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        """``open_world``: the call itself reaches a system we do not own (the payment gateway,
        Supabase, a lender's webhook endpoint); tests/mcp_servers/test_annotations.py holds each flag
        against the code the tool runs."""

        def register(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            spec = ToolSpec(
                fn,
                frozenset(roles),
                title,
                read_only,
                destructive,
                idempotent,
                open_world,
                tuple((retired or {}).items()),
            )
            self.specs.append(spec)
            return fn

        return register


@dataclass(frozen=True, slots=True)
class _Call:
    runtime: Runtime
    invocation: Invocation


_call: ContextVar[_Call | None] = ContextVar("caas_call", default=None)


def current_runtime() -> Runtime:
    """The runtime of the server handling this request (its lifespan yields it)."""
    runtime = get_context().lifespan_context.get("runtime")
    if runtime is None:  # pragma: no cover - a server built without mcp_servers.composition.build_server
        raise RuntimeError("this server's lifespan provides no runtime")
    return cast("Runtime", runtime)


def _current() -> _Call:
    call = _call.get()
    if call is None:  # pragma: no cover - only reachable by calling a tool function directly
        raise RuntimeError("only available inside a tool call")
    return call


def deps() -> Dependencies:
    """The use cases' dependencies, inside a tool call."""
    return _current().runtime.deps


def invocation() -> Invocation:
    """Who calls which tool with which arguments (hashed), inside a tool call."""
    return _current().invocation


def principal() -> Principal:
    """Who calls, inside a tool call."""
    return _current().invocation.principal


def as_tool(spec: ToolSpec, server: str) -> FunctionTool:
    """The MCP tool of ``spec`` on the server named ``server`` (audit rows name it ``server.tool``)."""
    fn, allowed = spec.fn, spec.roles
    role_list = ", ".join(sorted(r.value for r in allowed))
    audited_name = f"{server}.{fn.__name__}"

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        runtime = current_runtime()
        caller = runtime.principals.current()
        if caller.role not in allowed:
            TOOL_ERRORS.labels(fn.__name__, "permission_denied").inc()
            raise CaasToolError(
                PermissionDenied.code,
                f"{fn.__name__} is open to {role_list}; you are signed in as {caller.role}. "
                "Use a token for one of those roles",
            )
        if spec.read_only:
            call = Invocation(caller, audited_name, "")
        else:
            args_sha256 = request_sha256(to_jsonable_python(kwargs))
            call = Invocation(caller, audited_name, args_sha256, current_request_id())
        token = _call.set(_Call(runtime, call))
        try:
            # A call the database aborted to break a deadlock runs again, unless it already committed.
            return await retry_transient(lambda: fn(*args, **kwargs))
        except DomainError as exc:
            raise CaasToolError(exc.code, exc.message) from None
        except CaasToolError:
            raise
        except PydanticValidationError as exc:
            raise CaasToolError("invalid_argument", _validation_message(exc)) from None
        except Exception as exc:
            raise _internal(fn.__name__, exc) from None
        finally:
            _call.reset(token)

    tool = ListedTool.from_function(
        wrapper,
        name=fn.__name__,
        title=spec.title,
        annotations=ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive,
            idempotent_hint=spec.idempotent,
            open_world_hint=spec.open_world,
        ),
        meta={ROLES_META: sorted(r.value for r in allowed)},
    )
    # Inline $refs once here, so listing does not redo it for every client and every call; then cut
    # the schemas to what a client must know (mcp_servers.tool_schemas says what and why).
    tool.parameters = markdown(compact_input_schema(explained(dereference_refs(tool.parameters))))
    if tool.output_schema is not None:
        tool.output_schema = markdown(compact_output_schema(dereference_refs(tool.output_schema)))
    tool.description = markdown(tool.description)
    return tool


def _validation_message(exc: PydanticValidationError) -> str:
    return describe_validation_error(exc) + ". Fix these fields (see the tool's input schema) and call again"


ERROR_CODE_META = "caas/error_code"


def _error_result(code: str, message: str) -> ToolResult:
    # No structuredContent: the spec lets an isError result omit it, and one that did not match the
    # tool's outputSchema made schema-validating clients (the TypeScript SDK, MCP Inspector) show a
    # validation failure instead of the message. The code leads the text and sits in _meta.
    return ToolResult(
        content=[TextContent(type="text", text=f"{code}: {message}")],
        meta={ERROR_CODE_META: code},
        is_error=True,
    )


class ErrorMapping(Middleware):
    """Every failed call becomes an error result (``isError``) whose text is ``"<code>: <message>"``
    and whose ``_meta["caas/error_code"]`` is the code; it carries no ``structuredContent``."""

    def __init__(self, render: Callable[[str], str] = str) -> None:
        self.render = render

    async def on_call_tool(
        self,
        context: MiddlewareContext[CallToolRequestParams],
        call_next: CallNext[CallToolRequestParams, Any],
    ) -> Any:
        name = context.message.name
        started = time.perf_counter()
        try:
            result = await call_next(context)
        except CaasToolError as exc:
            TOOL_ERRORS.labels(name, exc.code).inc()
            TOOL_SECONDS.labels(name, "error").observe(time.perf_counter() - started)
            return _error_result(exc.code, exc.message if exc.literal else self.render(exc.message))
        except ValidationError as exc:
            TOOL_ERRORS.labels(name, "invalid_argument").inc()
            cause = exc.__cause__
            message = (
                _validation_message(cause)
                if isinstance(cause, PydanticValidationError)
                else "the arguments do not match the tool's input schema; check names and types, call again"
            )
            return _error_result("invalid_argument", message)
        except NotFoundError:  # RoleVisibility answers unknown names first; this is the last resort
            TOOL_ERRORS.labels(name, "not_found").inc()
            message = f"there is no tool {name[:100]!r}; call tools/list to see yours"
            return _error_result("not_found", message)
        except ToolError:
            TOOL_ERRORS.labels(name, "internal").inc()
            return _error_result(
                "internal",
                f"the tool failed (request {current_request_id()}); retry once, then report the request id "
                "to the operator",
            )
        TOOL_SECONDS.labels(name, "ok").observe(time.perf_counter() - started)
        return result


class RoleVisibility(Middleware):
    """A principal is not shown tools its role may not call, and calling one is refused before its
    arguments are even read (so a caller without the role learns nothing of the tool's input rules).
    A name that is no tool is ``not_found``, with the closest names the caller can see."""

    def __init__(self, principals: PrincipalSource) -> None:
        self.principals = principals
        self.roles: dict[str, frozenset[str]] = {}
        self.retired: dict[str, tuple[tuple[str, str], ...]] = {}

    def register(self, tool: FunctionTool, retired: tuple[tuple[str, str], ...] = ()) -> None:
        self.roles[tool.name] = frozenset((tool.meta or {}).get(ROLES_META) or ())
        self.retired[tool.name] = retired

    async def on_list_tools(
        self, context: MiddlewareContext[ListToolsRequest], call_next: CallNext[ListToolsRequest, Any]
    ) -> Any:
        role = self.principals.current().role.value
        tools = await call_next(context)
        return [t for t in tools if role in ((t.meta or {}).get(ROLES_META) or ())]

    async def on_call_tool(
        self,
        context: MiddlewareContext[CallToolRequestParams],
        call_next: CallNext[CallToolRequestParams, Any],
    ) -> Any:
        name, role = context.message.name, self.principals.current().role
        allowed = self.roles.get(name)
        if allowed is None:
            visible = [tool for tool, roles in self.roles.items() if role.value in roles]
            close = difflib.get_close_matches(name[:200], visible, n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise CaasToolError(
                NotFound.code,
                f"there is no tool {name[:100]!r}; {hint}call tools/list to see the tools you can call",
                literal=True,
            )
        if role.value not in allowed:
            raise CaasToolError(
                PermissionDenied.code,
                f"{name} is open to {', '.join(sorted(allowed))}; you are signed in as {role}. "
                "Use a token for one of those roles",
            )
        for old, instead in self.retired.get(name, ()):
            if old in (context.message.arguments or {}):
                raise CaasToolError("invalid_argument", f"{name} no longer takes {old}: {instead}")
        if (where := _lone_surrogate(context.message.arguments or {})) is not None:
            # Only an in-process client can send one (a JSON transport refuses it); strict validation
            # would fail to re-encode it and answer internal.
            raise CaasToolError(
                "invalid_argument", f"{where}: must be valid Unicode text (no lone surrogates)"
            )
        return await call_next(context)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) in ``value`` holding a lone surrogate."""
    if isinstance(value, str):
        return (path or "arguments") if _SURROGATE.search(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and _SURROGATE.search(key):
            return here.encode("utf-8", "backslashreplace").decode()
        found = _lone_surrogate(item, here)
        if found is not None:
            return found.encode("utf-8", "backslashreplace").decode()
    return None
