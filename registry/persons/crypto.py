"""Personal data at rest: AES-256-GCM sealing of a person's fields and a keyed digest of identity numbers.

The database holds only `sealed` (nonce || ciphertext+tag of the canonical JSON of the fields), the id of the
key that sealed it, and `identity_hmac`, an HMAC-SHA256 of the normalised identity number that lets officers
find a person without the number being stored, or being brute-forceable from the database alone. Keys live
in a file outside the database (`Settings.data_key_file`) or in `ITI_DATA_KEY`, never in a table.

The associated data of every seal is the person's id, so a blob copied onto another person's row does not
open. Several keys can be loaded at once: sealing and digests use the current key, opening uses the key named
by the row's `key_id`, and lookups try the digests of every loaded key, so a key can be rotated while
`persons.service.reseal_all` moves the rows over.

Key file (JSON, mode 0600):

    {
      "format": "iti-registry/data-keys/v1",
      "current": "<key id>",
      "keys": [
        {"id": "<key id>", "encryption_key": "<base64, 32 bytes>", "hmac_key": "<base64, 32 bytes>",
         "created_at": "<RFC 3339>"},
        ...older keys, kept until no row uses them...
      ]
    }

`ITI_DATA_KEY`, if set, is the base64 of 64 bytes: the encryption key then the HMAC key. It becomes the
current key; keys in the file, if there is one, stay loaded to open rows sealed before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from registry.config import Settings
from registry.db import utcnow
from registry.errors import RegistryError, ValidationError
from registry.reference.countries import normalise_country

log = logging.getLogger(__name__)

KEY_FILE_FORMAT = "iti-registry/data-keys/v1"
ENV_KEY = "ITI_DATA_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_KEY_ID_LABEL = b"iti-registry data key id\x00"


class PersonalDataError(RegistryError):
    """Sealed personal data that cannot be opened: wrong key, altered blob, or a blob from another row."""

    code = "personal_data"


class DataKeyError(PersonalDataError):
    """A missing, malformed or unreadable data key (file or environment)."""

    code = "data_key"


@dataclass(frozen=True)
class DataKey:
    key_id: str
    encryption_key: bytes = field(repr=False)
    hmac_key: bytes = field(repr=False)
    created_at: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if len(self.encryption_key) != KEY_BYTES or len(self.hmac_key) != KEY_BYTES:
            raise DataKeyError(f"data key {self.key_id!r}: both keys must be {KEY_BYTES} bytes")
        if not 1 <= len(self.key_id) <= 32:
            raise DataKeyError("a data key id must be 1-32 characters (the persons.key_id column)")


@dataclass(frozen=True)
class DataKeys:
    """The loaded keys: `current` seals, every key can open what it sealed."""

    current: DataKey
    older: tuple[DataKey, ...] = ()

    def __iter__(self) -> Iterator[DataKey]:
        yield self.current
        yield from self.older

    def get(self, key_id: str) -> DataKey:
        for key in self:
            if key.key_id == key_id:
                return key
        raise PersonalDataError(
            f"data key {key_id!r} is not loaded: restore it into the key file to open rows sealed with it",
            field="key_id",
            key_id=key_id,
        )


# --- keys -------------------------------------------------------------------------------------------------


def key_id_for(encryption_key: bytes, hmac_key: bytes) -> str:
    """A stable id derived from the key material, so the same key always has the same id."""
    return hashlib.sha256(_KEY_ID_LABEL + encryption_key + hmac_key).hexdigest()[:16]


def data_key_from_bytes(raw: bytes, *, created_at: str | None = None) -> DataKey:
    if len(raw) != 2 * KEY_BYTES:
        raise DataKeyError(f"a data key is {2 * KEY_BYTES} bytes (encryption key then HMAC key)")
    enc, mac = raw[:KEY_BYTES], raw[KEY_BYTES:]
    return DataKey(key_id_for(enc, mac), enc, mac, created_at)


def generate_data_key() -> DataKey:
    return data_key_from_bytes(secrets.token_bytes(2 * KEY_BYTES), created_at=utcnow().isoformat())


def _b64(value: str, *, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError, AttributeError):
        raise DataKeyError(f"{what} is not valid base64") from None


def parse_key_file(data: bytes, *, source: str) -> DataKeys:
    try:
        doc = orjson.loads(data)
        if doc.get("format") != KEY_FILE_FORMAT:
            raise DataKeyError(f"{source}: not a data key file (format is not {KEY_FILE_FORMAT!r})")
        keys = {}
        for item in doc["keys"]:
            key = DataKey(
                str(item["id"]),
                _b64(item["encryption_key"], what=f"{source}: encryption_key"),
                _b64(item["hmac_key"], what=f"{source}: hmac_key"),
                item.get("created_at"),
            )
            keys[key.key_id] = key
        current = keys.pop(str(doc["current"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise DataKeyError(f"{source}: malformed data key file ({type(exc).__name__})") from None
    return DataKeys(current, tuple(keys.values()))


def key_file_bytes(keys: DataKeys) -> bytes:
    doc = {
        "format": KEY_FILE_FORMAT,
        "current": keys.current.key_id,
        "keys": [
            {
                "id": k.key_id,
                "encryption_key": base64.b64encode(k.encryption_key).decode(),
                "hmac_key": base64.b64encode(k.hmac_key).decode(),
                "created_at": k.created_at,
            }
            for k in keys
        ],
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def load_data_keys(path: Path) -> DataKeys:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataKeyError(f"cannot read the data key file {path}: {exc.strerror}") from None
    if os.name == "posix" and path.stat().st_mode & 0o077:
        log.warning("persons.data_key.permissive_mode path=%s (should be 0600)", path)
    return parse_key_file(data, source=str(path))


def _write_private(path: Path, data: bytes) -> Path:
    """Write `data` to a new 0600 file next to `path` and return its name."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def _create_key_file(path: Path) -> DataKeys:
    keys = DataKeys(generate_data_key())
    tmp = _write_private(path, key_file_bytes(keys))
    try:
        # link() fails if the file appeared meanwhile: two processes starting together must not each seal
        # with a key of their own while one of the two keys is lost.
        os.link(tmp, path)
    except FileExistsError:
        return load_data_keys(path)
    finally:
        tmp.unlink()
    log.warning(
        "persons.data_key.generated path=%s key_id=%s (production keys should be provisioned, not "
        "generated on first use: see docs/operations.md, 'Key management')",
        path,
        keys.current.key_id,
    )
    return keys


def load_or_create_data_keys(settings: Settings) -> DataKeys:
    """The keys from `ITI_DATA_KEY` and/or `settings.data_key_file`; creates the file if neither exists."""
    path = settings.data_key_file
    from_file = load_data_keys(path) if path.exists() else None
    env = os.environ.get(ENV_KEY)
    if env:
        current = data_key_from_bytes(_b64(env, what=ENV_KEY))
        older = tuple(k for k in (from_file or ()) if k.key_id != current.key_id)
        return DataKeys(current, older)
    if from_file is not None:
        return from_file
    return _create_key_file(path)


def rotate_data_keys(settings: Settings) -> DataKeys:
    """Add a new current key to the key file, keeping the old ones to open existing rows.

    Run `persons.service.reseal_all` afterwards; remove an old key only once no row names it.
    """
    if os.environ.get(ENV_KEY):
        raise DataKeyError(f"the current key comes from {ENV_KEY}: rotate it there, not in the key file")
    path = settings.data_key_file
    old = load_data_keys(path)
    keys = DataKeys(generate_data_key(), (old.current, *old.older))
    os.replace(_write_private(path, key_file_bytes(keys)), path)
    log.info("persons.data_key.rotated path=%s key_id=%s", path, keys.current.key_id)
    return keys


# --- identity digests -------------------------------------------------------------------------------------


def normalise_identity_number(number: str) -> str:
    """Upper-case letters and digits only: "ab 123-456" and "AB123456" are the same number."""
    if not isinstance(number, str):
        raise ValidationError("identity_number must be text", field="identity_number")
    text = unicodedata.normalize("NFKC", number).upper()
    key = "".join(ch for ch in text if ch.isalnum())
    if not key:
        raise ValidationError("identity_number has no letters or digits", field="identity_number")
    return key


def identity_hmac(key: DataKey, *, identity_number: str, identity_country: str) -> bytes:
    """HMAC-SHA256 of "<issuing country>:<normalised number>": equal numbers of two states differ."""
    country = normalise_country(identity_country, field="identity_country")
    message = f"{country}:{normalise_identity_number(identity_number)}".encode()
    return hmac.digest(key.hmac_key, message, hashlib.sha256)


def identity_hmacs(keys: DataKeys, *, identity_number: str, identity_country: str) -> list[bytes]:
    """The digest under every loaded key: rows not yet resealed after a rotation are still found."""
    return [
        identity_hmac(k, identity_number=identity_number, identity_country=identity_country) for k in keys
    ]


# --- sealing ----------------------------------------------------------------------------------------------


def canonical_fields(fields: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(dict(fields), option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise ValidationError(f"personal fields must be plain JSON values ({exc})", field="extra") from None


def seal(key: DataKey, person_id: uuid.UUID, fields: Mapping[str, Any]) -> bytes:
    """nonce || AES-256-GCM(canonical JSON of `fields`), bound to `person_id` as associated data."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key.encryption_key).encrypt(nonce, canonical_fields(fields), person_id.bytes)


def unseal(key: DataKey, person_id: uuid.UUID, blob: bytes) -> dict[str, Any]:
    blob = bytes(blob)
    failure = PersonalDataError(
        f"the personal data of person {person_id} cannot be opened with key {key.key_id}: the key is "
        "wrong, or the sealed data was altered or copied from another row",
        field="sealed",
        person_id=str(person_id),
    )
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise failure
    try:
        data = AESGCM(key.encryption_key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], person_id.bytes)
    except InvalidTag:
        raise failure from None
    fields = orjson.loads(data)
    if not isinstance(fields, dict):
        raise failure
    return fields


def unseal_with(keys: DataKeys, key_id: str, person_id: uuid.UUID, blob: bytes) -> dict[str, Any]:
    """Open a row's blob with the key its `key_id` names."""
    return unseal(keys.get(key_id), person_id, blob)
