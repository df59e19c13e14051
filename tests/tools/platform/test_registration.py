"""The registration loop with a scripted registry and clock: states, retries, re-registration."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers.clock import MovableClock
from tools.platform.ports import (
    RegistryRejected,
    RegistryStatus,
    RegistryUnavailable,
    ServiceConfig,
    ServiceNotRegistered,
)
from tools.platform.registration import Registrar, RegistrationPolicy, RegistrationState

CONFIG = ServiceConfig(
    url="http://h/mcp", health_url="http://h/health", metrics_url="http://h/metrics", version="1", tools=()
)
POLICY = RegistrationPolicy(heartbeat=timedelta(seconds=30), retry_base=timedelta(seconds=1))


class Stop(Exception):
    """Ends run() from the scripted sleep once the script is used up."""


class ScriptedRegistry:
    """Answers each call with the next scripted outcome (None = success) for that operation."""

    def __init__(self, **script: list[Exception | None]) -> None:
        self.script = {op: deque(outcomes) for op, outcomes in script.items()}
        self.calls: list[str] = []

    def _next(self, op: str) -> None:
        self.calls.append(op)
        queue = self.script.get(op)
        outcome = queue.popleft() if queue else None
        if outcome is not None:
            raise outcome

    async def activate(self, name: str, config: ServiceConfig) -> None:
        self._next("activate")

    async def heartbeat(self, name: str) -> None:
        self._next("heartbeat")

    async def deactivate(self, name: str) -> None:
        self._next("deactivate")

    async def status(self, name: str) -> RegistryStatus:
        self._next("status")
        return RegistryStatus(name, True, "active")


class Sleeps:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) >= self.limit:
            raise Stop


def registrar(registry: ScriptedRegistry | None, sleeps: Sleeps) -> Registrar:
    return Registrar(
        registry,
        "caas",
        CONFIG,
        POLICY,
        clock=MovableClock(datetime(2025, 1, 1, tzinfo=UTC)),
        sleep=sleeps,
        rng=lambda: 1.0,  # the longest wait the backoff allows
    )


async def test_a_registry_down_for_long_is_retried_with_growing_waits_never_longer_than_a_heartbeat() -> None:
    down = [RegistryUnavailable("x")] * 10
    sleeps = Sleeps(limit=10)
    r = registrar(ScriptedRegistry(activate=down), sleeps)
    with pytest.raises(Stop):
        await r.run()
    assert sleeps.waits == [1, 2, 4, 8, 16, 30, 30, 30, 30, 30]
    assert r.state is RegistrationState.RETRYING
    assert r.attempts == 10
    assert r.last_error == "RegistryUnavailable"


async def test_registered_after_failures_then_heartbeats_every_interval() -> None:
    registry = ScriptedRegistry(activate=[RegistryUnavailable("x"), RegistryRejected("x", status=401)])
    sleeps = Sleeps(limit=5)
    r = registrar(registry, sleeps)
    with pytest.raises(Stop):
        await r.run()
    assert registry.calls == ["activate", "activate", "activate", "heartbeat", "heartbeat"]
    assert sleeps.waits == [1, 2, 30, 30, 30]
    assert r.state is RegistrationState.REGISTERED
    assert (r.attempts, r.registrations) == (0, 1)
    snapshot = r.snapshot()
    assert snapshot["last_error"] == "RegistryRejected(401)"
    assert snapshot["last_heartbeat_at"] == "2025-01-01T00:00:00+00:00"


async def test_a_heartbeat_the_registry_does_not_recognise_re_registers_at_once() -> None:
    registry = ScriptedRegistry(heartbeat=[ServiceNotRegistered("x")])
    sleeps = Sleeps(limit=3)
    r = registrar(registry, sleeps)
    with pytest.raises(Stop):
        await r.run()
    assert registry.calls == ["activate", "heartbeat", "activate", "heartbeat"]
    assert sleeps.waits == [30, 30, 30]  # no backoff between the 404 and the new activation
    assert r.registrations == 2


async def test_a_failed_heartbeat_backs_off_then_activates_again() -> None:
    registry = ScriptedRegistry(heartbeat=[RegistryUnavailable("x")])
    sleeps = Sleeps(limit=3)
    r = registrar(registry, sleeps)
    with pytest.raises(Stop):
        await r.run()
    assert registry.calls == ["activate", "heartbeat", "activate"]
    assert sleeps.waits == [30, 1, 30]
    assert r.state is RegistrationState.REGISTERED


async def test_an_unexpected_error_in_the_adapter_is_retried_not_raised() -> None:
    registry = ScriptedRegistry(activate=[ValueError("bug")])
    sleeps = Sleeps(limit=2)
    r = registrar(registry, sleeps)
    with pytest.raises(Stop):
        await r.run()
    assert r.state is RegistrationState.REGISTERED
    assert r.last_error == "ValueError"


async def test_without_a_registry_it_is_disabled_and_does_nothing() -> None:
    sleeps = Sleeps(limit=1)
    r = registrar(None, sleeps)
    await r.run()
    assert r.state is RegistrationState.DISABLED
    assert sleeps.waits == []
    assert await r.deactivate() is False


async def test_deactivate_is_sent_only_for_a_service_the_registry_once_knew() -> None:
    registry = ScriptedRegistry(activate=[RegistryUnavailable("x")])
    r = registrar(registry, Sleeps(limit=1))
    with pytest.raises(Stop):
        await r.run()
    assert await r.deactivate() is False
    assert "deactivate" not in registry.calls

    registry = ScriptedRegistry()
    r = registrar(registry, Sleeps(limit=1))
    with pytest.raises(Stop):
        await r.run()
    assert await r.deactivate() is True
    assert r.state is RegistrationState.DEACTIVATED


async def test_a_failed_deactivation_is_reported_not_raised() -> None:
    registry = ScriptedRegistry(deactivate=[RegistryUnavailable("x")])
    r = registrar(registry, Sleeps(limit=1))
    with pytest.raises(Stop):
        await r.run()
    assert await r.deactivate() is False
