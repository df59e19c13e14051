"""Which vault a process gets: configured keys, dev keys for an embedded run, or a refusal."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from adapters.platform.vault import DEV_KEYS_FILE
from mcp_servers.config import ConfigError, load_settings
from mcp_servers.platform.pii import vault_from_settings

K1 = base64.b64encode(bytes(range(32))).decode()
INDEX = base64.b64encode(bytes(range(32, 64))).decode()
DATABASE = "postgresql://caas@db.example/caas"
VARIABLES = ("CAAS_PII_KEYS", "CAAS_PII_ACTIVE_KEY_ID", "CAAS_PII_INDEX_KEY")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (*VARIABLES, "NEON_DATABASE_URL", "CAAS_DATABASE_URL", "SUPABASE_DB_URL", "CAAS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAAS_DATA_DIR", str(tmp_path / "data"))


def test_an_embedded_run_without_keys_gets_dev_keys_in_the_data_dir(tmp_path: Path) -> None:
    vault = vault_from_settings(load_settings())
    assert (tmp_path / "data" / DEV_KEYS_FILE).exists()
    again = vault_from_settings(load_settings())
    assert again.decrypt(vault.encrypt("12345678901", field="f"), field="f") == "12345678901"


def test_a_configured_database_without_keys_refuses_to_start_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEON_DATABASE_URL", DATABASE)
    with pytest.raises(ConfigError) as caught:
        vault_from_settings(load_settings())
    message = str(caught.value)
    assert message.startswith("CAAS_PII_KEYS:")
    assert "\n" not in message
    assert not (tmp_path / "data" / DEV_KEYS_FILE).exists()


def test_configured_keys_are_used_with_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEON_DATABASE_URL", DATABASE)
    monkeypatch.setenv("CAAS_PII_KEYS", f"prod-2025:{K1}")
    monkeypatch.setenv("CAAS_PII_ACTIVE_KEY_ID", "prod-2025")
    monkeypatch.setenv("CAAS_PII_INDEX_KEY", INDEX)
    settings = load_settings()
    assert K1 not in repr(settings) + str(settings.model_dump())
    assert INDEX not in repr(settings) + str(settings.model_dump())
    assert vault_from_settings(settings).active_key_id == "prod-2025"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CAAS_PII_KEYS": f"k1:{K1}", "CAAS_PII_ACTIVE_KEY_ID": "k1"}, "CAAS_PII_INDEX_KEY"),
        ({"CAAS_PII_INDEX_KEY": INDEX}, "CAAS_PII_KEYS"),
        ({"CAAS_PII_KEYS": f"k1:{K1}", "CAAS_PII_INDEX_KEY": INDEX}, "CAAS_PII_ACTIVE_KEY_ID"),
        ({"CAAS_PII_KEYS": K1, "CAAS_PII_ACTIVE_KEY_ID": "k1", "CAAS_PII_INDEX_KEY": INDEX}, "CAAS_PII_KEYS"),
        (
            {"CAAS_PII_KEYS": f"k1:{K1}", "CAAS_PII_ACTIVE_KEY_ID": "k2", "CAAS_PII_INDEX_KEY": INDEX},
            "CAAS_PII_ACTIVE_KEY_ID",
        ),
        (
            {"CAAS_PII_KEYS": f"k1:{K1}", "CAAS_PII_ACTIVE_KEY_ID": "k1", "CAAS_PII_INDEX_KEY": "short"},
            "CAAS_PII_INDEX_KEY",
        ),
    ],
)
def test_incomplete_or_malformed_keys_fail_at_load_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable}:")
    assert "\n" not in message
    assert K1 not in message
    assert INDEX not in message
