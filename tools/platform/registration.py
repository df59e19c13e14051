"""Service registration as a background loop: activate, heartbeat, re-activate, deactivate.

The registry only helps others find us, so nothing here may stop or delay the service: every failure
becomes state (shown in ``/health``) and a retry after an exponential, jittered wait that never grows
beyond one heartbeat interval, so a registry that comes back sees the service within about one
interval. A heartbeat that fails for any reason leads to a fresh activation (activation is
idempotent on the registry), which is how a registry that restarted and lost its state gets us back.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import anyio

from tools.platform.domain.jobs import backoff_delay
from tools.platform.ports import (
    Clock,
    RegistryError,
    RegistryRejected,
    ServiceConfig,
    ServiceNotRegistered,
    ServiceRegistry,
    SystemClock,
)

__all__ = ["Registrar", "RegistrationPolicy", "RegistrationState"]

log = logging.getLogger("caas.registration")


class RegistrationState(StrEnum):
    STARTING = "starting"  # before the first activation attempt has an answer
    REGISTERED = "registered"
    RETRYING = "retrying"
    DISABLED = "disabled"  # CAAS_REGISTRY=false, or a transport with no URL to announce (stdio)
    DEACTIVATED = "deactivated"  # told the registry we are going away (graceful shutdown)


@dataclass(frozen=True, slots=True)
class RegistrationPolicy:
    heartbeat: timedelta = timedelta(seconds=30)
    retry_base: timedelta = timedelta(seconds=1)

    def retry_delay(self, attempt: int, rng: Callable[[], float] = random.random) -> timedelta:
        cap = max(self.heartbeat, self.retry_base)
        return backoff_delay(attempt, base=self.retry_base, cap=cap, rng=rng)


def _describe(exc: BaseException) -> str:
    """The error's type (and HTTP status for a refusal): what /health and the log may show."""
    if isinstance(exc, RegistryRejected):
        return f"{type(exc).__name__}({exc.status})"
    return type(exc).__name__


class Registrar:
    """Keeps one service registered for as long as ``run()`` runs; ``snapshot()`` is its state."""

    def __init__(
        self,
        registry: ServiceRegistry | None,
        name: str,
        config: ServiceConfig,
        policy: RegistrationPolicy = RegistrationPolicy(),
        *,
        registry_url: str | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.registry = registry
        self.name = name
        self.config = config
        self.policy = policy
        self.registry_url = registry_url
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._rng = rng
        self.state = RegistrationState.DISABLED if registry is None else RegistrationState.STARTING
        self.attempts = 0  # failed activations since the last success
        self.registrations = 0  # successful activations in this process's life
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.registered_at: datetime | None = None
        self.last_heartbeat_at: datetime | None = None

    async def run(self) -> None:
        """Until cancelled. Never raises: the service must outlive any registry trouble."""
        if self.registry is None:
            return
        while True:
            if self.state is not RegistrationState.REGISTERED and not await self._activate():
                await self._sleep(self.policy.retry_delay(self.attempts, self._rng).total_seconds())
                continue
            await self._sleep(self.policy.heartbeat.total_seconds())
            await self._heartbeat()

    async def deactivate(self) -> bool:
        """Tell the registry we are leaving (only if it ever knew us); True when it took note.
        The caller bounds the time this may take."""
        if self.registry is None or self.registrations == 0:
            return False
        try:
            await self.registry.deactivate(self.name)
        except ServiceNotRegistered:
            pass  # it already forgot us: the outcome we wanted
        except Exception as exc:
            log.warning("could not deactivate %s in the registry: %s", self.name, _describe(exc))
            return False
        self.state = RegistrationState.DEACTIVATED
        log.info("deactivated %s in the registry", self.name)
        return True

    def snapshot(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "state": self.state.value,
            "name": self.name,
            "registry_url": self.registry_url,
            "attempts": self.attempts,
            "registrations": self.registrations,
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at),
            "registered_at": iso(self.registered_at),
            "last_heartbeat_at": iso(self.last_heartbeat_at),
        }

    async def _activate(self) -> bool:
        assert self.registry is not None
        try:
            await self.registry.activate(self.name, self.config)
        except Exception as exc:  # not only RegistryError: a bug here must not end the service either
            self._failed(exc, "activation")
            return False
        self.state = RegistrationState.REGISTERED
        self.attempts = 0
        self.registrations += 1
        self.registered_at = self.last_heartbeat_at = self._clock.now()
        log.info(
            "registered %s with %d tool(s) at %s (registration %d)",
            self.name,
            len(self.config.tools),
            self.registry_url or "the registry",
            self.registrations,
        )
        return True

    async def _heartbeat(self) -> None:
        assert self.registry is not None
        try:
            await self.registry.heartbeat(self.name)
        except ServiceNotRegistered as exc:
            # The registry restarted without us: re-activate at once, no need to wait.
            self._failed(exc, "heartbeat")
            return
        except Exception as exc:
            self._failed(exc, "heartbeat")
            await self._sleep(self.policy.retry_delay(self.attempts, self._rng).total_seconds())
            return
        self.last_heartbeat_at = self._clock.now()

    def _failed(self, exc: BaseException, operation: str) -> None:
        was = self.state
        self.state = RegistrationState.RETRYING
        self.attempts += 1
        self.last_error = _describe(exc)
        self.last_error_at = self._clock.now()
        unexpected = not isinstance(exc, RegistryError)
        # One warning when things go wrong, then quiet retries: a registry that is down for an hour
        # must not fill the log.
        level = logging.WARNING if was is not RegistrationState.RETRYING or unexpected else logging.DEBUG
        log.log(
            level,
            "registry %s of %s failed (%s, attempt %d); retrying in the background",
            operation,
            self.name,
            self.last_error,
            self.attempts,
            exc_info=unexpected,
        )
