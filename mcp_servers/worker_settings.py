"""The background workers' part of the configuration (``mcp_servers.platform.workers``): how idle loops
look for work, how long a claimed job stays leased, how many jobs of one queue run at once."""

from __future__ import annotations

from datetime import timedelta

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings

__all__ = ["WorkerSettings"]


class WorkerSettings(BaseSettings):
    """Fields and checks of the workers; :class:`mcp_servers.config.Settings` inherits them."""

    # While the LISTEN connection is down (or none is configured) idle loops poll this often.
    worker_poll_seconds: float = Field(
        default=0.5, gt=0, le=60, validation_alias=AliasChoices("CAAS_WORKER_POLL_SECONDS")
    )
    # While it is up, notifications wake the loops and polling only finds what none announces (a retry
    # coming due, a lease running out, a key's next job after another process finished the one before).
    worker_fallback_poll_seconds: float = Field(
        default=5.0, gt=0, le=600, validation_alias=AliasChoices("CAAS_WORKER_FALLBACK_POLL_SECONDS")
    )
    # Under load a loop woken this soon after its last look began waits until then, so the commits of
    # that window are relayed (claimed) by one look; the first wake after a quiet spell looks at once.
    worker_coalesce_seconds: float = Field(
        default=0.1, ge=0, le=1, validation_alias=AliasChoices("CAAS_WORKER_COALESCE_SECONDS")
    )
    # How soon a dead worker's jobs go to another; the heartbeat renews a live one every third of it,
    # so it need not cover a handler's run time, only two missed renewals.
    job_lease_seconds: float = Field(
        default=30.0, ge=3, le=3600, validation_alias=AliasChoices("CAAS_JOB_LEASE_SECONDS")
    )
    # Jobs of one queue run at once by one process (one per ordering key: a key's jobs stay in order).
    # A running job holds no database connection, only its handler's own statements do.
    worker_concurrency: int = Field(
        default=4, ge=1, le=64, validation_alias=AliasChoices("CAAS_WORKER_CONCURRENCY")
    )

    @model_validator(mode="after")
    def _consistent_workers(self) -> WorkerSettings:
        if self.worker_fallback_poll_seconds < self.worker_poll_seconds:
            # The fallback runs while notifications work; polling more often then than without them
            # is a mistake in the settings, not a choice.
            raise ValueError(
                "CAAS_WORKER_FALLBACK_POLL_SECONDS must not be shorter than CAAS_WORKER_POLL_SECONDS"
            )
        return self

    @property
    def job_lease(self) -> timedelta:
        return timedelta(seconds=self.job_lease_seconds)
