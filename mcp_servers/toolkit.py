"""How a use case becomes an MCP tool: role gate, audit identity, coded errors, metrics."""

from __future__ import annotations

import functools
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from fastmcp.exceptions import NotFoundError, ToolError, ValidationError
from fastmcp.server.dependencies import get_context
from fastmcp.server.middleware import CallNext, MiddlewareContext
from fastmcp.tools import FunctionTool, ToolResult
from fastmcp.utilities.json_schema import dereference_refs
from mcp_types import CallToolRequestParams, TextContent, ToolAnnotations
from prometheus_client import Counter, Histogram
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import to_jsonable_python

from database.unit_of_work import retry_transient
from mcp_servers import agreement
from mcp_servers.input_schemas import explained
from mcp_servers.platform.dispatch import DirectCallTool
from mcp_servers.platform.request_context import current_client_ip, current_request_id
from mcp_servers.tool_schemas import ListedTool, compact_input_schema, compact_output_schema, markdown
from tools.platform.errors import DomainError, PermissionDenied
from tools.platform.idempotency import request_sha256
from tools.platform.models import describe_validation_error
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role

if TYPE_CHECKING:
    from mcp_servers.runtime import Runtime
    from mcp_servers.wiring import Dependencies

__all__ = [
    "CONFIRMABLE",
    "ERROR_CODE_META",
    "CaasToolError",
    "ErrorMapping",
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
# The tool label of a call to a name the server does not have.
UNKNOWN_TOOL = "<unknown>"
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
    # A money move: runs only once a person confirmed it (mcp_servers.confirmation).
    confirm: bool = False
    # The ``ui://`` page that shows its result in a host with MCP Apps (mcp_servers.apps).
    app: str | None = None
    # Meant for the pages, not the model: a host with MCP Apps leaves it out of the model's tool list.
    # Audience only, never access: the role gate is the same whoever calls.
    app_only: bool = False


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
        confirm: bool = False,
        app: str | None = None,
        app_only: bool = False,
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
                confirm,
                app,
                app_only,
            )
            self.specs.append(spec)
            return fn

        return register


@dataclass(frozen=True, slots=True)
class _Call:
    runtime: Runtime
    invocation: Invocation


_call: ContextVar[_Call | None] = ContextVar("caas_call", default=None)


# The money tools by audited name ("server.tool"), so confirm_action can run the one a person confirmed.
CONFIRMABLE: dict[str, tuple[FunctionTool, frozenset[Role]]] = {}


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
        confirmed = agreement.confirmed() if spec.confirm else None
        caller = confirmed.principal if confirmed else runtime.principals.current()
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
            call = Invocation(caller, audited_name, args_sha256, current_request_id(), current_client_ip())
        token = _call.set(_Call(runtime, call))
        try:
            said = await _gate(runtime, call, kwargs, confirmed) if spec.confirm else None
            if not (said is None or isinstance(said, str)):
                return said  # the person's answer is asked for first
            with agreement.agreed_to(said):
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
        meta={ROLES_META: sorted(r.value for r in allowed)} | _ui_meta(spec.app, spec.app_only),
    )
    if spec.confirm:
        CONFIRMABLE[audited_name] = (tool, allowed)
    # Inline $refs once here, so listing does not redo it for every client and every call; then cut
    # the schemas to what a client must know (mcp_servers.tool_schemas says what and why).
    tool.parameters = markdown(compact_input_schema(explained(dereference_refs(tool.parameters))))
    if tool.output_schema is not None:
        tool.output_schema = markdown(compact_output_schema(dereference_refs(tool.output_schema)))
    tool.description = markdown(tool.description)
    return tool


def _ui_meta(app: str | None, app_only: bool) -> dict[str, Any]:
    # Only the page's address: visibility left out means model and app (the extension's default), and
    # every byte here is in every tools/list.
    ui: dict[str, Any] = {} if app is None else {"resourceUri": app}
    if app_only:
        ui["visibility"] = ["app"]
    return {"ui": ui} if ui else {}


async def _gate(runtime: Runtime, call: Invocation, kwargs: dict[str, Any], confirmed: Any) -> Any:
    from mcp_servers.confirmation import gate  # it builds on this module

    return await gate(runtime, call, to_jsonable_python(kwargs), confirmed)


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


class ErrorMapping(DirectCallTool):
    """Every failed call becomes an error result (``isError``) whose text is ``"<code>: <message>"``
    and whose ``_meta["caas/error_code"]`` is the code; it carries no ``structuredContent``."""

    def __init__(self, render: Callable[[str], str] = str) -> None:
        self.render = render
        # The server's tools (filled as they are added): the metrics' tool label is one of these or
        # UNKNOWN_TOOL, so names a caller makes up never add a series (each a row of /metrics, forever).
        self.known: set[str] = set()
        # Only tools that returned are kept, so unknown names sent by a caller never grow it.
        self._ok_seconds: dict[str, Any] = {}

    async def on_call_tool(
        self,
        context: MiddlewareContext[CallToolRequestParams],
        call_next: CallNext[CallToolRequestParams, Any],
    ) -> Any:
        name = context.message.name
        label = name if name in self.known else UNKNOWN_TOOL
        started = time.perf_counter()
        try:
            result = await call_next(context)
        except CaasToolError as exc:
            TOOL_ERRORS.labels(label, exc.code).inc()
            TOOL_SECONDS.labels(label, "error").observe(time.perf_counter() - started)
            return _error_result(exc.code, exc.message if exc.literal else self.render(exc.message))
        except ValidationError as exc:
            TOOL_ERRORS.labels(label, "invalid_argument").inc()
            cause = exc.__cause__
            message = (
                _validation_message(cause)
                if isinstance(cause, PydanticValidationError)
                else "the arguments do not match the tool's input schema; check names and types, call again"
            )
            return _error_result("invalid_argument", message)
        except NotFoundError:  # RoleVisibility answers unknown names first; this is the last resort
            TOOL_ERRORS.labels(UNKNOWN_TOOL, "not_found").inc()
            message = f"there is no tool {name[:100]!r}; call tools/list to see yours"
            return _error_result("not_found", message)
        except ToolError:
            TOOL_ERRORS.labels(label, "internal").inc()
            return _error_result(
                "internal",
                f"the tool failed (request {current_request_id()}); retry once, then report the request id "
                "to the operator",
            )
        ok = self._ok_seconds.get(name)
        if ok is None:  # once per tool: labels() takes a lock and builds the key on every call
            ok = self._ok_seconds[name] = TOOL_SECONDS.labels(name, "ok")
        ok.observe(time.perf_counter() - started)
        return result
