"""Tool names as one server spells them, for the text an agent reads (descriptions, error messages).

Descriptions and messages name tools in one form, the plain name (``list_review_queue``; the composed
name ``credit_list_review_queue`` is read too). Each server renders those names as it exposes them: the
composed server with its service prefix, a single-service server plainly, and a tool another
single-service server carries with the server that has it, so an agent never calls a name its server
does not have.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ToolNames"]


class ToolNames:
    """Renders tool names for the server carrying ``service`` (None: the composed server)."""

    def __init__(self, owners: Mapping[str, str], service: str | None) -> None:
        # owners: every tool's plain name -> the service (server) that carries it.
        self.owners = dict(owners)
        self.service = service
        forms = {**{name: name for name in owners}, **{f"{s}_{n}": n for n, s in owners.items()}}
        self._forms = forms
        # Longest first, so a composed name is taken whole before its plain tail could match.
        alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        # A name inside a longer identifier (provider_id, credit_list_review_queue_x) is no mention.
        self._pattern = re.compile(rf"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])")

    @classmethod
    def of(cls, services: Mapping[str, Iterable[str]], service: str | None) -> ToolNames:
        owners: dict[str, str] = {}
        for owner, names in services.items():
            for name in names:
                if name in owners:  # pragma: no cover - a plain name must say which tool it is
                    raise ValueError(f"{name} is a tool of both {owners[name]} and {owner}")
                owners[name] = owner
        return cls(owners, service)

    def exposed(self, plain: str) -> str:
        """What this server calls the tool ``plain``; a tool of another single-service server is
        named with that server (``score_application (on the caas-risk server)``)."""
        owner = self.owners[plain]
        if self.service is None:
            return f"{owner}_{plain}"
        if owner == self.service:
            return plain
        return f"{plain} (on the caas-{owner} server)"

    def render(self, text: str) -> str:
        return self._pattern.sub(lambda m: self.exposed(self._forms[m.group(0)]), text)

    def render_schema(self, schema: Any) -> Any:
        """A JSON schema with every ``description`` rendered (keys and values untouched)."""
        if isinstance(schema, dict):
            return {
                key: self.render(value)
                if key == "description" and isinstance(value, str)
                else self.render_schema(value)
                for key, value in schema.items()
            }
        if isinstance(schema, list):
            return [self.render_schema(item) for item in schema]
        return schema
