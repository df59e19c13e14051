"""deploy/prometheus.yml, deploy/prometheus-local.yml and deploy/alerts.yml with the real promtool:
the configurations and rules load, every alert the plan asks for exists, and each fires on the series
that should fire it (tests/deploy/alerts_test.yml)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.deploy import DEPLOY, program

HERE = Path(__file__).parent


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([program("promtool"), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-local.yml"])
def test_promtool_checks_the_configuration_and_its_rules(config: str) -> None:
    done = promtool("check", "config", str(DEPLOY / config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout + done.stderr


def test_promtool_checks_the_rules() -> None:
    done = promtool("check", "rules", str(DEPLOY / "alerts.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_alert_fires_on_the_series_that_should_fire_it() -> None:
    done = promtool("test", "rules", str(HERE / "alerts_test.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_there_is_an_alert_for_each_failure_the_issue_names_on_the_given_metrics() -> None:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]
    metric_of = {rule["alert"]: set(re.findall(r"\b(up|caas_\w+)\b", rule["expr"])) for rule in rules}
    assert metric_of == {
        "CaasServiceDown": {"up"},
        "CaasToolLatencyP99High": {"caas_tool_call_seconds_bucket"},
        "CaasOutboxLag": {"caas_outbox_lag_seconds"},
        "CaasQueueLag": {"caas_queue_lag_seconds"},
        "CaasPaymentsFailed": {"caas_payments_failed"},
        "CaasSupabaseSyncLag": {"caas_supabase_sync_lag_seconds"},
        "CaasLedgerReconcileDifference": {"caas_ledger_reconcile_difference"},
    }
    tested = yaml.safe_load((HERE / "alerts_test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tested for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert fired == set(metric_of)


def test_prometheus_scrapes_every_server_of_the_integrated_stack() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = {t for group in config["scrape_configs"][0]["static_configs"] for t in group["targets"]}
    compose = yaml.safe_load((DEPLOY / "docker-compose.integrated.yml").read_text())["services"]
    served = {
        f"{name}:{service['environment']['CAAS_PORT']}"
        for name, service in compose.items()
        if name.startswith("caas-") and "CAAS_PORT" in service.get("environment", {})
    }
    assert targets == served
