"""Which personal-data vault a process uses: configured keys, or dev keys for a local embedded run.

A server with a real database and no configured keys refuses to start: generating keys silently there
would encrypt production data under keys nobody backed up.
"""

from __future__ import annotations

from adapters.platform.vault import DEV_KEYS_FILE, AesGcmVault, VaultError, load_or_create_dev_keys
from mcp_servers.config import ConfigError, Settings

__all__ = ["check_pii_settings", "shared_state_key", "vault_from_settings"]

_VARIABLES = ("CAAS_PII_KEYS", "CAAS_PII_ACTIVE_KEY_ID", "CAAS_PII_INDEX_KEY")


def _configured(settings: Settings) -> AesGcmVault | None:
    """The vault from the three variables, None when none is set; ValueError (one line) otherwise."""
    values = (
        settings.pii_keys.get_secret_value() if settings.pii_keys else None,
        settings.pii_active_key_id,
        settings.pii_index_key.get_secret_value() if settings.pii_index_key else None,
    )
    if all(value is None for value in values):
        return None
    missing = [name for name, value in zip(_VARIABLES, values, strict=True) if value is None]
    if missing:
        others = " and ".join(name for name in _VARIABLES if name != missing[0])
        raise ValueError(f"{missing[0]}: must be set together with {others}")
    keys, active, index_key = (str(value) for value in values)
    try:
        return AesGcmVault.from_config(keys, active, index_key)
    except VaultError as exc:
        raise ValueError(str(exc)) from None


def check_pii_settings(settings: Settings) -> None:
    """Raise ValueError naming the variable when the PII key variables are incomplete or malformed."""
    _configured(settings)


def vault_from_settings(settings: Settings) -> AesGcmVault:
    """The vault for this process, or ConfigError with one line saying what to set."""
    try:
        vault = _configured(settings)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if vault is not None:
        return vault
    if not settings.embedded:
        raise ConfigError(
            "CAAS_PII_KEYS: required when NEON_DATABASE_URL is set; set CAAS_PII_KEYS, "
            "CAAS_PII_ACTIVE_KEY_ID and CAAS_PII_INDEX_KEY (see docs/operations.md)"
        )
    try:
        return load_or_create_dev_keys(settings.data_dir)
    except VaultError as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"CAAS_DATA_DIR: cannot keep {DEV_KEYS_FILE} there: {exc.strerror}") from None


def shared_state_key(settings: Settings) -> bytes | None:
    """The key that seals MCP requestState, derived from the PII index key: the same in every process
    and replica configured with the same keys, unlike the SDK's default of a random key per process.
    None without keys (a server built only to be described, as by mcp_servers.catalog: it serves no
    call, and start-up refuses a missing key before any server is built)."""
    try:
        return vault_from_settings(settings).derive_key("mcp-request-state")
    except ConfigError:
        return None
