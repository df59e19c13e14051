"""The workers' settings (issue 14, part 4): their defaults, a bad value stopping start-up with one
line naming the variable, and the values reaching the workers a process builds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mcp_servers.config import ConfigError, load_settings
from mcp_servers.runtime import Runtime
from mcp_servers.wiring import build_workers

VARIABLES = (
    "CAAS_WORKER_POLL_SECONDS",
    "CAAS_WORKER_FALLBACK_POLL_SECONDS",
    "CAAS_JOB_LEASE_SECONDS",
    "CAAS_WORKER_CONCURRENCY",
    "CAAS_WORKER_COALESCE_SECONDS",
)


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_defaults(clean: pytest.MonkeyPatch) -> None:
    s = load_settings(_env_file=None)
    assert (s.worker_poll_seconds, s.worker_fallback_poll_seconds) == (0.5, 5.0)
    assert (s.job_lease, s.worker_concurrency) == (timedelta(seconds=30), 4)
    assert s.worker_coalesce_seconds == 0.1


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CAAS_WORKER_CONCURRENCY": "0"}, "CAAS_WORKER_CONCURRENCY"),
        ({"CAAS_WORKER_CONCURRENCY": "65"}, "CAAS_WORKER_CONCURRENCY"),
        ({"CAAS_WORKER_CONCURRENCY": "four"}, "CAAS_WORKER_CONCURRENCY"),
        ({"CAAS_JOB_LEASE_SECONDS": "1"}, "CAAS_JOB_LEASE_SECONDS"),
        ({"CAAS_JOB_LEASE_SECONDS": "7200"}, "CAAS_JOB_LEASE_SECONDS"),
        ({"CAAS_WORKER_COALESCE_SECONDS": "-0.1"}, "CAAS_WORKER_COALESCE_SECONDS"),
        ({"CAAS_WORKER_COALESCE_SECONDS": "2"}, "CAAS_WORKER_COALESCE_SECONDS"),
        ({"CAAS_WORKER_FALLBACK_POLL_SECONDS": "0"}, "CAAS_WORKER_FALLBACK_POLL_SECONDS"),
        ({"CAAS_WORKER_FALLBACK_POLL_SECONDS": "601"}, "CAAS_WORKER_FALLBACK_POLL_SECONDS"),
        # Polling more often with notifications than without them is a mistake.
        (
            {"CAAS_WORKER_POLL_SECONDS": "10", "CAAS_WORKER_FALLBACK_POLL_SECONDS": "2"},
            "CAAS_WORKER_FALLBACK_POLL_SECONDS",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    clean: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    for name, value in env.items():
        clean.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert "\n" not in message and variable in message


def test_good_values_are_taken(clean: pytest.MonkeyPatch) -> None:
    for name, value in zip(VARIABLES, ("1", "60", "12.5", "16", "0"), strict=True):
        clean.setenv(name, value)
    s = load_settings(_env_file=None)
    assert (s.worker_poll_seconds, s.worker_fallback_poll_seconds) == (1.0, 60.0)
    assert (s.job_lease, s.worker_concurrency) == (timedelta(seconds=12.5), 16)
    assert s.worker_coalesce_seconds == 0  # never wait


async def test_the_settings_reach_the_workers_a_process_builds(runtime: Runtime) -> None:
    assert runtime.core_pool is not None
    settings = runtime.settings.model_copy(
        update={
            "worker_poll_seconds": 0.25,
            "worker_fallback_poll_seconds": 9.0,
            "job_lease_seconds": 45.0,
            "worker_concurrency": 7,
            "worker_coalesce_seconds": 0.2,
        }
    )
    workers = build_workers(settings, runtime.deps, runtime.core_pool, runtime.clock)
    assert (workers.poll, workers.fallback_poll) == (0.25, 9.0)
    assert (workers.lease, workers.concurrency) == (timedelta(seconds=45), 7)
    assert workers.coalesce == 0.2
