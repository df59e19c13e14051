"""AES-256-GCM encryption at rest for personal data, with key rotation and an HMAC blind index.

Blob format (version 1)::

    1 byte version | 1 byte key-id length n | n bytes key id (ASCII) | 12-byte nonce | ciphertext+tag

The tag is GCM's 16 bytes, appended to the ciphertext by ``AESGCM``.

The associated data is the header (version, length, key id) followed by the field name: a ciphertext
copied into another column, or relabelled with another key id, fails authentication instead of
decrypting. The nonce is random per encryption, which stays safe for about 2**32 encryptions under one
key; rotation (a new active key) resets that budget.

Several keys are held by id: the active one encrypts, all of them decrypt, so old rows keep working
while they are re-encrypted (``needs_rotation`` finds them). The blind index uses a separate key,
never an encryption key, and is not rotated with them: changing it means recomputing every index.

Errors are :class:`VaultError` and never carry plaintext or key material; configuration errors start
with the environment variable they are about.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tools.platform.domain.pii import normalize_for_index

__all__ = [
    "DEV_KEYS_FILE",
    "AesGcmVault",
    "VaultError",
    "generate_key",
    "load_or_create_dev_keys",
]

log = logging.getLogger(__name__)

VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
DEV_KEYS_FILE = "pii-keys.json"
# Ids end up in CAAS_PII_KEYS ("id:key,id:key") and in every blob header, so no separators, short.
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_KEYS_VAR = "CAAS_PII_KEYS"
_ACTIVE_VAR = "CAAS_PII_ACTIVE_KEY_ID"
_INDEX_VAR = "CAAS_PII_INDEX_KEY"


class VaultError(Exception):
    """A key or blob that cannot be used. The message never contains plaintext or key material."""


def generate_key() -> str:
    """A fresh 256-bit key, base64-encoded as the configuration expects it."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def _decode_key(encoded: str, variable: str, what: str) -> bytes:
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise VaultError(f"{variable}: {what} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise VaultError(f"{variable}: {what} must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
    return key


class AesGcmVault:
    """Implements :class:`tools.credit.ports.PersonalDataVault`."""

    __slots__ = ("_active", "_checks", "_ciphers", "_index_key")

    def __init__(self, keys: Mapping[str, bytes], active: str, index_key: bytes) -> None:
        if not keys:
            raise VaultError(f"{_KEYS_VAR}: at least one key is required")
        for key_id, key in keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise VaultError(f"{_KEYS_VAR}: key ids are 1-64 of A-Z a-z 0-9 . _ -")
            if len(key) != KEY_BYTES:
                raise VaultError(f"{_KEYS_VAR}: key {key_id!r} must be {KEY_BYTES} bytes")
        if active not in keys:
            # The ids are not secret; listing them tells the operator what they may choose from.
            raise VaultError(f"{_ACTIVE_VAR}: must be one of the ids in {_KEYS_VAR} ({', '.join(keys)})")
        if len(index_key) != KEY_BYTES:
            raise VaultError(f"{_INDEX_VAR}: must be {KEY_BYTES} bytes")
        # Reusing an encryption key for the index would tie the index to rotation and mix key uses.
        if any(hmac.compare_digest(index_key, key) for key in keys.values()):
            raise VaultError(f"{_INDEX_VAR}: must differ from every key in {_KEYS_VAR}")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = active
        self._index_key = bytes(index_key)
        self._checks = {key_id: _check_value(key) for key_id, key in keys.items()}
        self._checks[_INDEX_CHECK] = _check_value(index_key)

    @classmethod
    def from_config(cls, keys: str, active: str, index_key: str) -> AesGcmVault:
        """Parse ``"id:base64key,id2:base64key"``, the active id and the base64 index key."""
        parsed: dict[str, bytes] = {}
        entries = [entry.strip() for entry in keys.split(",") if entry.strip()]
        for position, entry in enumerate(entries, start=1):
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            # Name the entry by position until its id is known to be an id, not a misplaced key.
            if not sep or not _KEY_ID.fullmatch(key_id):
                raise VaultError(
                    f"{_KEYS_VAR}: entry {position} is not id:base64key (ids: A-Z a-z 0-9 . _ -)"
                )
            if key_id in parsed:
                raise VaultError(f"{_KEYS_VAR}: key id {key_id!r} appears twice")
            parsed[key_id] = _decode_key(encoded, _KEYS_VAR, f"key {key_id!r}")
        if not parsed:
            raise VaultError(f"{_KEYS_VAR}: no keys given; expected id:base64key[,id:base64key...]")
        active = active.strip()
        if not _KEY_ID.fullmatch(active):
            raise VaultError(f"{_ACTIVE_VAR}: not a key id (1-64 of A-Z a-z 0-9 . _ -)")
        return cls(parsed, active, _decode_key(index_key, _INDEX_VAR, "the index key"))

    @property
    def active_key_id(self) -> str:
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        return f"AesGcmVault(active={self._active!r}, key_ids={list(self._ciphers)!r})"

    def encrypt(self, plaintext: str, *, field: str) -> bytes:
        _require_field(field)
        key_id = self._active.encode("ascii")
        header = bytes((VERSION, len(key_id))) + key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._active].encrypt(nonce, plaintext.encode("utf-8"), header + _aad(field))
        return header + nonce + sealed

    def decrypt(self, blob: bytes, *, field: str) -> str:
        _require_field(field)
        key_id, header_len = _parse_header(blob)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise VaultError(f"{field}: encrypted under unknown key id {key_id!r}; add it to {_KEYS_VAR}")
        nonce = blob[header_len : header_len + NONCE_BYTES]
        try:
            plain = cipher.decrypt(nonce, blob[header_len + NONCE_BYTES :], blob[:header_len] + _aad(field))
        except InvalidTag:
            raise VaultError(
                f"{field}: ciphertext failed authentication (altered, or written for another field)"
            ) from None
        return plain.decode("utf-8")

    def blind_index(self, value: str, *, field: str) -> bytes:
        """HMAC-SHA256 over ``"{field}:{normalised value}"``: equal values of one field give equal
        indexes, and the same value in two fields does not link the two columns."""
        _require_field(field)
        normalised = normalize_for_index(field, value)
        if not normalised:
            # An empty index would match every other empty value; that is a validation bug upstream.
            raise ValueError(f"{field}: nothing to index after normalisation")
        message = f"{field}:{normalised}".encode()
        return hmac.new(self._index_key, message, hashlib.sha256).digest()

    def derive_key(self, purpose: str) -> bytes:
        """32 bytes for ``purpose``, the same in every process holding these keys (HMAC-SHA256 of the
        purpose under the index key, so nothing derived reveals the index key or another purpose's key)."""
        return hmac.new(self._index_key, f"caas-derived-key:{purpose}".encode(), hashlib.sha256).digest()

    def fingerprints(self) -> dict[str, str]:
        """A check value per key id (and ``@index`` for the index key): equal values mean equal keys,
        and they reveal nothing of the keys; a backup's manifest keeps them (``caas db backup``)."""
        return dict(self._checks)

    def needs_rotation(self, blob: bytes) -> bool:
        return self.key_id_of(blob) != self._active

    def key_id_of(self, blob: bytes) -> str:
        return _parse_header(blob)[0]


_INDEX_CHECK = "@index"  # never a key id (ids have no @)


def _check_value(key: bytes) -> str:
    # A key check value: an HMAC of a fixed label, so comparing two never needs the keys themselves.
    return hmac.new(key, b"caas key check value", hashlib.sha256).hexdigest()[:16]


def _require_field(field: str) -> None:
    if not field:
        raise ValueError("field must name the column the value belongs to")


def _aad(field: str) -> bytes:
    return field.encode("utf-8")


def _parse_header(blob: bytes) -> tuple[str, int]:
    """The key id and the header length; raises VaultError for anything that is not a v1 blob."""
    if len(blob) < 2:
        raise VaultError("not an encrypted value: too short")
    if blob[0] != VERSION:
        raise VaultError(f"unsupported encrypted value version {blob[0]}")
    header_len = 2 + blob[1]
    if len(blob) < header_len + NONCE_BYTES + 16:
        raise VaultError("not an encrypted value: truncated")
    try:
        key_id = blob[2:header_len].decode("ascii")
    except UnicodeDecodeError:
        raise VaultError("not an encrypted value: key id is not ASCII") from None
    return key_id, header_len


def load_or_create_dev_keys(data_dir: Path) -> AesGcmVault:
    """The vault for a local run without configured keys.

    Keys are generated once into ``pii-keys.json`` (mode 0600) in the data directory, beside the
    embedded database they protect, and reused on every start. The file is created atomically and
    never overwritten: replacing it would make every encrypted value unreadable. A damaged file is an
    error to fix by hand, not a reason to generate new keys.
    """
    path = data_dir / DEV_KEYS_FILE
    if not path.exists():
        _create_dev_keys(path)
    mode = path.stat().st_mode & 0o777
    if os.name == "posix" and mode & 0o077:
        log.warning("%s is readable by other users (mode %o); chmod 600 it", path, mode)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        keys = {str(k): base64.b64decode(v, validate=True) for k, v in document["keys"].items()}
        active = str(document["active"])
        index_key = base64.b64decode(document["index_key"], validate=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise VaultError(f"{path}: not a valid key file; restore it from a backup") from None
    try:
        return AesGcmVault(keys, active, index_key)
    except VaultError as exc:
        # The constructor names environment variables; here the keys came from the file.
        raise VaultError(f"{path}: {str(exc).split(': ', 1)[-1]}") from None


def _create_dev_keys(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "version": 1,
        "active": "dev1",
        "keys": {"dev1": generate_key()},
        "index_key": generate_key(),
    }
    # mkstemp creates the file 0600; linking it into place fails if another process got there first,
    # so two servers starting together agree on one set of keys and nobody reads a half-written file.
    fd, tmp = tempfile.mkstemp(prefix=".pii-keys-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
