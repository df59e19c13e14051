"""Bearer tokens for every role on one machine (``caas token --role ...``), signed with a local key.

They are JWTs like a configured issuer's and obey the same rules (``exp``, ``sub``, the maximum
lifetime, the server's audience); only the key and the issuer differ, and the key never leaves the
data directory. A deployment turns them on only on purpose (``CAAS_LOCAL_TOKENS``).
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import time
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import OctKey

from mcp_servers.config import ConfigError, Settings
from tools.platform.models import IDENTIFIER_PATTERN
from tools.platform.principal import Role

__all__ = ["LOCAL_ISSUER", "local_key", "mint_local_token", "parse_ttl"]

LOCAL_ISSUER = "caas-local"
_KEY_FILE = "local-token-key"
_TTL = re.compile(r"^([1-9][0-9]{0,6})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


def local_key(data_dir: Path) -> str:
    """The signing key, created on first use in a file only this user can read (0600)."""
    path = data_dir / _KEY_FILE
    if path.exists():
        return _read_key(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Written whole to a file of our own, then linked into place: link() creates the name only if it is
    # free, so two first uses at once keep one key, and the loser never reads a file still being written.
    fd, temp = tempfile.mkstemp(prefix=f".{_KEY_FILE}.", dir=data_dir)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(key + "\n")
        os.link(temp, path)
    except FileExistsError:
        return _read_key(path)
    finally:
        os.unlink(temp)
    return key


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise ConfigError(f"{path} is empty; remove it and a new local signing key is made on next use")
    return key


def parse_ttl(text: str) -> int:
    """``90s``, ``30m``, ``8h``, ``2d`` as seconds."""
    match = _TTL.fullmatch(text.strip())
    if match is None:
        raise ConfigError(f"--ttl {text!r}: use a number and a unit s, m, h or d, such as 8h")
    return int(match[1]) * _UNIT_S[match[2]]


def mint_local_token(
    settings: Settings,
    role: Role,
    *,
    subject: str | None = None,
    provider_id: str | None = None,
    ttl_s: int = 8 * 3600,
    server: str = "caas",
) -> str:
    """A token for ``role`` on ``server`` ("caas" or a service name); ConfigError says why not."""
    if not settings.local_tokens_enabled:
        raise ConfigError(
            "local tokens are off here (CAAS_LOCAL_TOKENS, on by default only for the embedded "
            "database); set CAAS_LOCAL_TOKENS=true to allow them, or get a token from the configured issuer"
        )
    if ttl_s > settings.jwt_max_lifetime_s:
        raise ConfigError(
            f"--ttl is longer than CAAS_JWT_MAX_LIFETIME_S ({settings.jwt_max_lifetime_s} s); "
            "choose a shorter one"
        )
    if role is Role.PROVIDER and provider_id is None:
        raise ConfigError(
            "a provider token needs --provider-id (the lender's id from admin_onboard_provider)"
        )
    sub = subject or f"local-{role.value}"
    for flag, value in (("--subject", sub), ("--provider-id", provider_id)):
        if value is not None and (len(value) > 200 or not _IDENTIFIER.fullmatch(value)):
            raise ConfigError(f"{flag}: visible characters only, no spaces, at most 200")
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": LOCAL_ISSUER,
        "aud": settings.audience_for(server),
        "sub": sub,
        "iat": now,
        "exp": now + ttl_s,
        "caas_role": role.value,
    }
    if provider_id is not None:
        claims["provider_id"] = provider_id
    key = OctKey.import_key(local_key(settings.data_dir))
    return jwt.encode({"alg": "HS256"}, claims, key)
