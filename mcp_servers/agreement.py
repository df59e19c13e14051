"""What a person agreed to, for the money tool that runs it: as whom and with which arguments a
pending action runs (confirm_action), and the summary the person read, which a move whose arguments do
not pin its figures (money_summaries.PINNED) checks again under its own lock, so a change that lands
after the person's answer is refused rather than run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from tools.platform.principal import Principal

__all__ = ["Confirmed", "agreed", "agreed_to", "confirmed", "confirmed_as"]


@dataclass(frozen=True, slots=True)
class Confirmed:
    principal: Principal
    args_sha256: str
    summary: str


_confirmed: ContextVar[Confirmed | None] = ContextVar("caas_confirmed", default=None)
_agreed: ContextVar[str | None] = ContextVar("caas_agreed", default=None)


@contextmanager
def confirmed_as(requester: Principal, args_sha256: str, summary: str) -> Iterator[None]:
    """Run a money tool a person confirmed: as the caller who asked, only with those arguments, and
    only as the person read it (``summary``)."""
    token = _confirmed.set(Confirmed(requester, args_sha256, summary))
    try:
        yield
    finally:
        _confirmed.reset(token)


def confirmed() -> Confirmed | None:
    """The pending action confirm_action is running, if any."""
    return _confirmed.get()


@contextmanager
def agreed_to(summary: str | None) -> Iterator[None]:
    """Run a money tool's use case with the summary its person agreed to (None: nothing to hold it to)."""
    token = _agreed.set(summary)
    try:
        yield
    finally:
        _agreed.reset(token)


def agreed() -> str | None:
    """What the person who confirmed the running money move read; None when its arguments pin it or
    no person was asked (confirmation off)."""
    return _agreed.get()
