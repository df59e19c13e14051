"""Configuration: every variable documented, bad values named in one line, secrets kept secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices

from mcp_servers.config import ConfigError, Settings, load_settings

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _variables() -> list[str]:
    names = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices)
        names.extend(str(choice) for choice in alias.choices)
    return names


def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    for name in _variables():
        monkeypatch.delenv(name, raising=False)


def test_docs_operations_documents_every_variable() -> None:
    table = OPERATIONS.read_text()
    missing = [name for name in _variables() if f"`{name}`" not in table]
    assert missing == []


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CAAS_PORT": "eighty"}, "CAAS_PORT"),
        ({"CAAS_PORT": "70000"}, "CAAS_PORT"),
        ({"CAAS_STDIO_ROLE": "wizard"}, "CAAS_STDIO_ROLE"),
        ({"SUPABASE_URL": "not a url"}, "SUPABASE_URL"),
        ({"CAAS_LOG_LEVEL": "LOUD"}, "CAAS_LOG_LEVEL"),
        ({"CAAS_DB_POOL_MAX": "0"}, "CAAS_DB_POOL_MAX"),
        ({"CAAS_JWT_SECRET": "short"}, "CAAS_JWT_SECRET"),
        ({"SUPABASE_DB_URL": "postgresql://x/y"}, "NEON_DATABASE_URL"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert variable in message


def test_dotenv_file_is_read_and_secrets_do_not_print(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    (tmp_path / ".env").write_text(
        "NEON_DATABASE_URL=postgresql://caas:hunter2-db-password@db.example/caas\n"
        "CAAS_SERVICE_API_KEY=very-secret-service-key\nCAAS_STDIO_ROLE=agent\n"
    )
    settings = load_settings()
    assert settings.stdio_role == "agent"
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value().endswith("/caas")
    shown = repr(settings) + str(settings.model_dump())
    assert "hunter2-db-password" not in shown
    assert "very-secret-service-key" not in shown


def test_defaults_are_the_embedded_database_and_a_local_operator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    settings = load_settings()
    assert settings.embedded
    assert settings.stdio_role == "operator"
    assert settings.onasis_gateway_url is None  # no gateway configured: the sandbox, money simulated
    assert re.search(r"caas", str(settings.data_dir))


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({}, True),  # the embedded default with the sandbox
        ({"NEON_DATABASE_URL": "postgresql://u@db.example.com/caas"}, True),  # the sandbox still
        ({"NEON_DATABASE_URL": "postgresql://u@db/c", "ONASIS_GATEWAY_URL": "https://gw.example.com"}, False),
        ({"ONASIS_GATEWAY_URL": "https://gw.example.com", "CAAS_WEBHOOK_ALLOW_LOCAL": "true"}, True),
        ({"CAAS_WEBHOOK_ALLOW_LOCAL": "false"}, False),
    ],
)
def test_local_webhook_receivers_are_allowed_only_for_the_embedded_default_the_sandbox_or_when_said(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], allowed: bool
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings().allows_local_webhooks is allowed
