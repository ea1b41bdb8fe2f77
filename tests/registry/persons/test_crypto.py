"""Sealing personal data (AES-256-GCM bound to the person's id), identity digests, and the data key file."""

from __future__ import annotations

import base64
import dataclasses
import logging
import stat
import uuid
from pathlib import Path

import orjson
import pytest

from registry.config import Settings, get_settings
from registry.errors import InvalidCountry, ValidationError
from registry.persons import crypto
from registry.persons.crypto import DataKeyError, DataKeys, PersonalDataError

FIELDS = {"name": "Amina Wanjiru", "identity_number": "AB 123-456", "birth_date": "1990-02-03"}


@pytest.fixture
def key() -> crypto.DataKey:
    return crypto.generate_data_key()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv(crypto.ENV_KEY, raising=False)
    return dataclasses.replace(get_settings(), data_key_file=tmp_path / "keys" / "data.key")


# --- sealing --------------------------------------------------------------------------------------------


def test_seal_round_trips_and_hides_the_fields(key: crypto.DataKey) -> None:
    pid = uuid.uuid4()
    blob = crypto.seal(key, pid, FIELDS)

    assert b"Amina" not in blob
    assert b"123" not in blob
    assert len(blob) == crypto.NONCE_BYTES + len(crypto.canonical_fields(FIELDS)) + crypto.TAG_BYTES
    assert crypto.unseal(key, pid, blob) == FIELDS


def test_every_seal_uses_a_fresh_nonce(key: crypto.DataKey) -> None:
    pid = uuid.uuid4()
    assert crypto.seal(key, pid, FIELDS) != crypto.seal(key, pid, FIELDS)


def test_a_blob_moved_to_another_person_does_not_open(key: crypto.DataKey) -> None:
    blob = crypto.seal(key, uuid.uuid4(), FIELDS)
    with pytest.raises(PersonalDataError, match="copied from another row") as exc:
        crypto.unseal(key, uuid.uuid4(), blob)
    assert exc.value.field == "sealed"


def test_a_wrong_key_does_not_open(key: crypto.DataKey) -> None:
    pid = uuid.uuid4()
    blob = crypto.seal(key, pid, FIELDS)
    with pytest.raises(PersonalDataError, match="key is wrong"):
        crypto.unseal(crypto.generate_data_key(), pid, blob)


@pytest.mark.parametrize("damage", ["flip_nonce", "flip_ciphertext", "flip_tag", "truncate", "empty"])
def test_a_tampered_blob_does_not_open(key: crypto.DataKey, damage: str) -> None:
    pid = uuid.uuid4()
    blob = bytearray(crypto.seal(key, pid, FIELDS))
    if damage == "flip_nonce":
        blob[0] ^= 1
    elif damage == "flip_ciphertext":
        blob[crypto.NONCE_BYTES + 3] ^= 1
    elif damage == "flip_tag":
        blob[-1] ^= 1
    elif damage == "truncate":
        del blob[crypto.NONCE_BYTES + 4 :]
    else:
        blob.clear()
    with pytest.raises(PersonalDataError):
        crypto.unseal(key, pid, bytes(blob))


def test_keyring_opens_with_the_key_a_row_names(key: crypto.DataKey) -> None:
    new = crypto.generate_data_key()
    keys = DataKeys(new, (key,))
    pid = uuid.uuid4()
    old_blob = crypto.seal(key, pid, FIELDS)

    assert crypto.unseal_with(keys, key.key_id, pid, old_blob) == FIELDS
    assert [k.key_id for k in keys] == [new.key_id, key.key_id]
    with pytest.raises(PersonalDataError, match="not loaded"):
        crypto.unseal_with(DataKeys(new), key.key_id, pid, old_blob)


def test_key_material_never_appears_in_a_repr(key: crypto.DataKey) -> None:
    text = repr(DataKeys(key))
    assert key.key_id in text
    for secret in (key.encryption_key, key.hmac_key):
        assert secret.hex() not in text
        assert repr(secret) not in text


# --- identity digests -----------------------------------------------------------------------------------


def test_identity_numbers_compare_without_case_spaces_or_punctuation(key: crypto.DataKey) -> None:
    a = crypto.identity_hmac(key, identity_number="AB 123-456", identity_country="KE")
    b = crypto.identity_hmac(key, identity_number="ab123456", identity_country="KEN")
    c = crypto.identity_hmac(key, identity_number="ab.123/456", identity_country="404")
    assert a == b == c
    assert len(a) == 32
    assert crypto.normalise_identity_number(" ab 123-456 ") == "AB123456"


def test_identity_digests_differ_by_issuing_country_and_by_key(key: crypto.DataKey) -> None:
    kenyan = crypto.identity_hmac(key, identity_number="AB123456", identity_country="KE")
    ugandan = crypto.identity_hmac(key, identity_number="AB123456", identity_country="UG")
    other_key = crypto.identity_hmac(
        crypto.generate_data_key(), identity_number="AB123456", identity_country="KE"
    )
    assert len({kenyan, ugandan, other_key}) == 3


def test_identity_input_is_checked(key: crypto.DataKey) -> None:
    with pytest.raises(ValidationError) as empty:
        crypto.identity_hmac(key, identity_number=" - / ", identity_country="KE")
    assert empty.value.field == "identity_number"
    with pytest.raises(InvalidCountry) as country:
        crypto.identity_hmac(key, identity_number="AB1", identity_country="Kenya")
    assert country.value.field == "identity_country"


# --- the key file ---------------------------------------------------------------------------------------


def test_missing_key_file_is_created_private_with_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="registry.persons.crypto"):
        keys = crypto.load_or_create_data_keys(settings)

    path = settings.data_key_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = orjson.loads(path.read_bytes())
    assert doc["format"] == crypto.KEY_FILE_FORMAT
    assert doc["current"] == keys.current.key_id
    [entry] = doc["keys"]
    assert base64.b64decode(entry["encryption_key"]) == keys.current.encryption_key
    assert base64.b64decode(entry["hmac_key"]) == keys.current.hmac_key
    assert keys.current.encryption_key != keys.current.hmac_key
    assert "persons.data_key.generated" in caplog.text
    assert entry["encryption_key"] not in caplog.text
    assert crypto.load_or_create_data_keys(settings) == keys  # loaded, not replaced


def test_rotation_adds_a_current_key_and_keeps_the_old_one(settings: Settings) -> None:
    first = crypto.load_or_create_data_keys(settings)
    rotated = crypto.rotate_data_keys(settings)

    assert rotated.current.key_id != first.current.key_id
    assert rotated.older == (first.current,)
    assert crypto.load_or_create_data_keys(settings) == rotated
    assert stat.S_IMODE(settings.data_key_file.stat().st_mode) == 0o600


def test_key_from_the_environment_is_current_and_file_keys_still_open(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_file = crypto.load_or_create_data_keys(settings)
    raw = bytes(range(64))
    monkeypatch.setenv(crypto.ENV_KEY, base64.b64encode(raw).decode())

    keys = crypto.load_or_create_data_keys(settings)

    assert keys.current == crypto.data_key_from_bytes(raw)
    assert keys.current.encryption_key == raw[:32]
    assert keys.current.hmac_key == raw[32:]
    assert keys.older == (from_file.current,)
    with pytest.raises(DataKeyError):
        crypto.rotate_data_keys(settings)


def test_environment_key_alone_creates_no_file(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(crypto.ENV_KEY, base64.b64encode(bytes(64)).decode())
    keys = crypto.load_or_create_data_keys(settings)
    assert keys.older == ()
    assert not settings.data_key_file.exists()


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(bytes(32)).decode()])
def test_bad_environment_key_is_refused_without_echoing_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(crypto.ENV_KEY, value)
    with pytest.raises(DataKeyError) as exc:
        crypto.load_or_create_data_keys(settings)
    assert value not in str(exc.value)


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"format": "something-else"}',
        b'{"format": "iti-registry/data-keys/v1", "current": "x", "keys": []}',
    ],
)
def test_malformed_key_file_is_refused(settings: Settings, content: bytes) -> None:
    settings.data_key_file.parent.mkdir(parents=True)
    settings.data_key_file.write_bytes(content)
    settings.data_key_file.chmod(0o600)
    with pytest.raises(DataKeyError):
        crypto.load_or_create_data_keys(settings)
