"""What a failed tool call says, read the way any MCP client can: ``isError``, the text
``"<code>: <message>"`` and ``_meta["caas/error_code"]``, and no ``structuredContent`` (which would
have to match the tool's outputSchema)."""

from __future__ import annotations

from typing import Any, TypedDict

ERROR_CODE_META = "caas/error_code"


class ToolErrorInfo(TypedDict):
    code: str
    message: str


def _parts(result: Any) -> tuple[bool, Any, dict[str, Any], list[str]]:
    """(isError, structuredContent, _meta, texts) of a fastmcp/mcp result object or a raw JSON result."""
    if isinstance(result, dict):
        content = result.get("content") or []
        texts = [c.get("text", "") for c in content if c.get("type") == "text"]
        return bool(result.get("isError")), result.get("structuredContent"), result.get("_meta") or {}, texts
    texts = [c.text for c in (result.content or []) if getattr(c, "type", None) == "text"]
    structured = getattr(result, "structured_content", None)
    if structured is None:
        structured = getattr(result, "structuredContent", None)
    return (
        bool(getattr(result, "is_error", None) or getattr(result, "isError", False)),
        structured,
        (getattr(result, "meta", None) or {}),
        texts,
    )


def error_of(result: Any) -> ToolErrorInfo | None:
    """The code and message of a failed call, None when it succeeded.

    Every error result the suite reads passes through here, so each is also checked for the shape a
    schema-validating client accepts.
    """
    failed, structured, meta, texts = _parts(result)
    if not failed:
        return None
    assert structured is None, f"an error result carries structuredContent: {structured!r:.300}"
    code = meta.get(ERROR_CODE_META)
    assert isinstance(code, str) and code, f"an error result without _meta {ERROR_CODE_META!r}: {meta!r:.300}"
    assert texts and texts[0].startswith(f"{code}: "), f"text not led by {code!r}: {texts!r:.300}"
    return {"code": code, "message": texts[0][len(code) + 2 :]}


def error_code(result: Any) -> str | None:
    """The stable error code of a failed call (None when it succeeded)."""
    error = error_of(result)
    return None if error is None else error["code"]


def error_message(result: Any) -> str:
    """The message of a call that must have failed."""
    error = error_of(result)
    assert error is not None, "the call succeeded"
    return error["message"]
