"""AES-GCM vault: round trips, authentication of every byte and of the field, rotation, blind index,
configuration parsing and the local dev key file."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.platform.vault import (
    DEV_KEYS_FILE,
    AesGcmVault,
    VaultError,
    generate_key,
    load_or_create_dev_keys,
)
from tools.platform.ports import PersonalDataVault

K1 = bytes(range(32))
K2 = bytes(range(32, 64))
INDEX = bytes(range(64, 96))
FIELD = "borrowers.national_id"
NIN = "12345678901"


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def vault(active: str = "k1", index_key: bytes = INDEX) -> AesGcmVault:
    return AesGcmVault({"k1": K1, "k2": K2}, active, index_key)


def test_the_vault_satisfies_the_port() -> None:
    port: PersonalDataVault = vault()
    assert port.key_id_of(port.encrypt(NIN, field=FIELD)) == "k1"


@given(plaintext=st.text(max_size=200), field=st.text(min_size=1, max_size=40))
def test_what_is_encrypted_decrypts_to_the_same_text(plaintext: str, field: str) -> None:
    v = vault()
    assert v.decrypt(v.encrypt(plaintext, field=field), field=field) == plaintext


def test_the_blob_has_the_documented_layout_and_never_contains_the_plaintext() -> None:
    blob = vault().encrypt(NIN, field=FIELD)
    assert blob[0] == 1
    assert blob[1] == 2
    assert blob[2:4] == b"k1"
    assert len(blob) == 4 + 12 + len(NIN) + 16
    assert NIN.encode() not in blob


def test_a_random_nonce_makes_two_encryptions_of_one_value_differ() -> None:
    v = vault()
    first, second = v.encrypt(NIN, field=FIELD), v.encrypt(NIN, field=FIELD)
    assert first != second
    assert first[4:16] != second[4:16]


def test_changing_any_byte_or_bit_is_detected() -> None:
    v = vault()
    blob = v.encrypt(NIN, field=FIELD)
    for position in range(len(blob)):
        for bit in (0x01, 0x80):
            altered = bytearray(blob)
            altered[position] ^= bit
            with pytest.raises(VaultError) as caught:
                v.decrypt(bytes(altered), field=FIELD)
            assert NIN not in str(caught.value)


@pytest.mark.parametrize("cut", [0, 1, 3, 10, 31])
def test_a_truncated_blob_is_refused(cut: int) -> None:
    blob = vault().encrypt(NIN, field=FIELD)
    with pytest.raises(VaultError):
        vault().decrypt(blob[:cut], field=FIELD)


def test_a_ciphertext_moved_to_another_column_does_not_decrypt() -> None:
    v = vault()
    blob = v.encrypt(NIN, field="borrowers.national_id")
    with pytest.raises(VaultError) as caught:
        v.decrypt(blob, field="borrowers.bvn")
    assert NIN not in str(caught.value)


def test_a_blob_relabelled_with_another_known_key_id_fails_authentication() -> None:
    # Both ids are known, so only the header in the associated data can catch the swap.
    v = AesGcmVault({"k1": K1, "k2": K1}, "k1", INDEX)
    blob = v.encrypt(NIN, field=FIELD)
    relabelled = blob[:2] + b"k2" + blob[4:]
    with pytest.raises(VaultError):
        v.decrypt(relabelled, field=FIELD)


def test_rotation_keeps_old_values_readable_and_finds_them_for_re_encryption() -> None:
    old = vault(active="k1").encrypt(NIN, field=FIELD)
    rotated = vault(active="k2")
    assert rotated.decrypt(old, field=FIELD) == NIN
    assert rotated.needs_rotation(old)
    assert rotated.key_id_of(old) == "k1"
    fresh = rotated.encrypt(rotated.decrypt(old, field=FIELD), field=FIELD)
    assert rotated.key_id_of(fresh) == "k2"
    assert not rotated.needs_rotation(fresh)
    assert rotated.decrypt(fresh, field=FIELD) == NIN


def test_a_value_under_a_retired_key_names_the_key_id_not_the_value() -> None:
    blob = vault(active="k2").encrypt(NIN, field=FIELD)
    only_k1 = AesGcmVault({"k1": K1}, "k1", INDEX)
    with pytest.raises(VaultError, match="unknown key id 'k2'") as caught:
        only_k1.decrypt(blob, field=FIELD)
    assert NIN not in str(caught.value)


def test_the_blind_index_is_deterministic_full_length_and_hides_the_value() -> None:
    index = vault().blind_index(NIN, field=FIELD)
    assert len(index) == 32
    assert index == vault(active="k2").blind_index(NIN, field=FIELD)  # independent of rotation
    assert NIN.encode() not in index


def test_the_blind_index_depends_on_the_index_key() -> None:
    other = bytes(range(96, 128))
    assert vault().blind_index(NIN, field=FIELD) != vault(index_key=other).blind_index(NIN, field=FIELD)


def test_the_blind_index_is_taken_over_the_normalised_value() -> None:
    v = vault()
    assert v.blind_index("123 456-789 01", field=FIELD) == v.blind_index(NIN, field=FIELD)
    account = "borrowers.account_number"
    assert v.blind_index("012-345 6789", field=account) == v.blind_index("0123456789", field=account)


def test_the_same_value_in_two_fields_has_unrelated_indexes() -> None:
    v = vault()
    assert v.blind_index(NIN, field="borrowers.national_id") != v.blind_index(NIN, field="borrowers.bvn")


def test_an_empty_value_has_no_index() -> None:
    with pytest.raises(ValueError):
        vault().blind_index(" - ", field=FIELD)


def test_the_vault_repr_shows_ids_not_keys() -> None:
    shown = repr(vault())
    assert "k1" in shown
    assert b64(K1) not in shown
    assert K1.hex() not in shown


def test_from_config_parses_several_keys_with_one_active() -> None:
    v = AesGcmVault.from_config(f"k1:{b64(K1)}, k2:{b64(K2)}", "k2", b64(INDEX))
    assert v.active_key_id == "k2"
    assert v.key_ids == ("k1", "k2")
    assert v.decrypt(vault(active="k1").encrypt(NIN, field=FIELD), field=FIELD) == NIN


@pytest.mark.parametrize(
    ("keys", "active", "index_key", "variable"),
    [
        ("", "k1", b64(INDEX), "CAAS_PII_KEYS"),
        (b64(K1), "k1", b64(INDEX), "CAAS_PII_KEYS"),  # the id was forgotten
        (f"k1:{b64(K1)[:-4]}", "k1", b64(INDEX), "CAAS_PII_KEYS"),  # not valid base64
        (f"k1:{b64(K1[:16])}", "k1", b64(INDEX), "CAAS_PII_KEYS"),  # a 128-bit key
        (f"k1:{b64(K1)},k1:{b64(K2)}", "k1", b64(INDEX), "CAAS_PII_KEYS"),
        (f"bad id:{b64(K1)}", "k1", b64(INDEX), "CAAS_PII_KEYS"),
        (f"k1:{b64(K1)}", "k9", b64(INDEX), "CAAS_PII_ACTIVE_KEY_ID"),
        (f"k1:{b64(K1)}", "", b64(INDEX), "CAAS_PII_ACTIVE_KEY_ID"),
        (f"k1:{b64(K1)}", "k1", "not base64!", "CAAS_PII_INDEX_KEY"),
        (f"k1:{b64(K1)}", "k1", b64(INDEX[:31]), "CAAS_PII_INDEX_KEY"),
        (f"k1:{b64(K1)}", "k1", b64(K1), "CAAS_PII_INDEX_KEY"),  # reuses an encryption key
    ],
)
def test_a_bad_configuration_names_the_variable_in_one_line_without_key_material(
    keys: str, active: str, index_key: str, variable: str
) -> None:
    with pytest.raises(VaultError) as caught:
        AesGcmVault.from_config(keys, active, index_key)
    message = str(caught.value)
    assert message.startswith(f"{variable}:")
    assert "\n" not in message
    for secret in (b64(K1), b64(K1)[:-4], b64(K1[:16]), b64(INDEX), b64(INDEX[:31])):
        assert secret not in message


def test_generated_keys_are_256_bit_and_distinct() -> None:
    first, second = generate_key(), generate_key()
    assert len(base64.b64decode(first)) == 32
    assert first != second


def test_dev_keys_are_created_once_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = load_or_create_dev_keys(data_dir)
    path = data_dir / DEV_KEYS_FILE
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = path.read_bytes()
    blob = first.encrypt(NIN, field=FIELD)
    second = load_or_create_dev_keys(data_dir)
    assert path.read_bytes() == written
    assert second.decrypt(blob, field=FIELD) == NIN
    assert second.blind_index(NIN, field=FIELD) == first.blind_index(NIN, field=FIELD)
    assert [p.name for p in data_dir.iterdir()] == [DEV_KEYS_FILE]  # no temporary file left behind


def test_two_dev_vaults_on_one_machine_have_different_keys(tmp_path: Path) -> None:
    a = load_or_create_dev_keys(tmp_path / "a")
    b = load_or_create_dev_keys(tmp_path / "b")
    with pytest.raises(VaultError):
        b.decrypt(a.encrypt(NIN, field=FIELD), field=FIELD)


def test_a_damaged_dev_key_file_is_an_error_and_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / DEV_KEYS_FILE
    path.write_text("{not json")
    os.chmod(path, 0o600)
    with pytest.raises(VaultError, match="not a valid key file"):
        load_or_create_dev_keys(tmp_path)
    assert path.read_text() == "{not json"


def test_a_dev_key_file_with_a_bad_key_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / DEV_KEYS_FILE
    document = {"version": 1, "active": "dev1", "keys": {"dev1": b64(K1[:8])}, "index_key": b64(INDEX)}
    path.write_text(json.dumps(document))
    os.chmod(path, 0o600)
    with pytest.raises(VaultError) as caught:
        load_or_create_dev_keys(tmp_path)
    assert str(caught.value).startswith(str(path))
    assert b64(INDEX) not in str(caught.value)
