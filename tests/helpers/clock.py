"""A clock a test moves: the runtime of the test run reads it, so a test moves time forward instead of
back-dating rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

__all__ = ["MovableClock"]


class MovableClock:
    """``tools.platform.ports.Clock``: the real time plus an offset, or a fixed start plus an offset."""

    def __init__(self, start: datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("the start of a clock is timezone-aware")
        self._start = start
        self.offset = timedelta()

    def now(self) -> datetime:
        base = self._start if self._start is not None else datetime.now(UTC)
        return base + self.offset

    def today(self) -> date:
        return self.now().astimezone(UTC).date()

    def move(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; returns the new now."""
        step = timedelta(**delta)
        if step < timedelta():
            raise ValueError("time only moves forward")
        self.offset += step
        return self.now()

    def reset(self) -> None:
        self.offset = timedelta()
