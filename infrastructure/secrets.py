"""Secrets at rest: encrypted when they must be read back, hashed when not.

A `SecretBox` holds named 256-bit AES keys and one HMAC key:

- `encrypt`/`decrypt` use AES-GCM (NIST SP 800-38D) with a random 96-bit
  nonce per encryption. The result is an ASCII string that names its key,
  `enc:v1:<key id>:<base64url of nonce || ciphertext || tag>`, so keys can
  rotate: one key is active for encryption, and every loaded key decrypts.
  A context string (for example "<stream id>/<version>/<field>") is bound to
  the ciphertext as associated data, so a value copied to another row or
  field does not decrypt there.
- `keyed_hash` is HMAC-SHA256 (RFC 2104) under the separate hash key, which
  stays put when encryption keys rotate, so stored hashes keep matching. A
  purpose is mixed in, so a hash made for one purpose never equals a hash of
  the same value made for another.

Keys come from a configuration string (`SecretBox.from_config`) or from a key
file that is created on first use (`SecretBox.from_key_file`). The format of
both, one part per `;` or line, with `#` starting a comment line::

    active=k2; hash=<base64url>; k2=<base64url>; k1=<base64url>

`active` names the encryption key, `hash` is the HMAC key, and every other
part is a key id (letters, digits, `_`, `-`, at most 32) and its key. Each key
is 32 random bytes in base64url, padding optional. `generate_config()` makes a
fresh one.

Error messages and reprs name key ids, contexts, file paths and positions in
the configuration; never a key, a plaintext or a ciphertext.

Random 96-bit nonces keep a key safe for about 2**32 encryptions (NIST SP
800-38D, section 8.3); rotate long before a key has sealed that many values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from loginledger.domain.errors import LoginLedgerError

logger = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
_TAG_BYTES = 16
_PREFIX = "enc:v1:"
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_RESERVED_NAMES = frozenset({"active", "hash"})
_OWNER_ONLY = 0o600


class SecretBoxError(LoginLedgerError):
    """The root of the errors about keys and secrets at rest."""


class SecretConfigError(SecretBoxError, ValueError):
    """The keys given to a SecretBox are missing, malformed or inconsistent."""


class KeyFileError(SecretBoxError):
    """A key file cannot be created, read or replaced."""


class KeyFilePermissionError(KeyFileError):
    """A key file can be read or written by other users than its owner."""


class DecryptionError(SecretBoxError, ValueError):
    """A stored value could not be decrypted."""


class MalformedCiphertextError(DecryptionError):
    """A value is not a ciphertext that a SecretBox wrote."""


class UnknownKeyIdError(DecryptionError):
    """A ciphertext names a key that is not loaded."""

    def __init__(self, key_id: str, loaded: tuple[str, ...]) -> None:
        self.key_id = key_id
        super().__init__(
            f"the ciphertext was encrypted with key {key_id!r}, which is not "
            f"loaded (loaded: {', '.join(loaded)}); add that key back to the "
            "configuration to read it"
        )


class CiphertextRejectedError(DecryptionError):
    """A ciphertext failed authentication: altered, or for another context."""

    def __init__(self, key_id: str, context: str) -> None:
        self.key_id = key_id
        self.context = context
        super().__init__(
            f"the ciphertext under key {key_id!r} does not authenticate for "
            f"context {context!r}: it was altered, or belongs to another context"
        )


class SecretBox:
    """Encrypts secrets that must be read back, and hashes those compared.

    Args:
        keys: the encryption keys by key id, each 32 bytes.
        active_key_id: the key that encrypts; all of `keys` decrypt.
        hash_key: the 32-byte HMAC key for `keyed_hash`, distinct from every
            encryption key.

    Raises:
        SecretConfigError: a key id, a key or the active key id is invalid.
    """

    def __init__(
        self, keys: Mapping[str, bytes], active_key_id: str, hash_key: bytes
    ) -> None:
        _check_keys(keys, active_key_id, hash_key)
        self._keys = dict(keys)
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active_key_id = active_key_id
        self._hash_key = hash_key

    def __repr__(self) -> str:
        return (
            f"SecretBox(active_key_id={self._active_key_id!r}, "
            f"key_ids={self.key_ids!r})"
        )

    @property
    def active_key_id(self) -> str:
        """The id of the key that encrypts."""
        return self._active_key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of every loaded encryption key, sorted."""
        return tuple(sorted(self._keys))

    @classmethod
    def generate(cls, key_id: str = "k1") -> SecretBox:
        """A box with one fresh encryption key, `key_id`, and a fresh hash key."""
        return cls({key_id: _new_key()}, key_id, _new_key())

    @classmethod
    def from_config(
        cls, config: str, *, source: str = "secret box configuration"
    ) -> SecretBox:
        """Parse a configuration string (format in the module docstring).

        Args:
            config: the configuration.
            source: what the configuration is, for error messages.

        Raises:
            SecretConfigError: naming the offending part by position and name.
        """
        return _parse_config(config, source)

    @classmethod
    def from_key_file(cls, path: str | os.PathLike[str]) -> SecretBox:
        """Load the key file at `path`, creating it with fresh keys if missing.

        Raises:
            KeyFilePermissionError: the file is open to group or others.
            KeyFileError: the file cannot be created or read.
            SecretConfigError: the file's content is not a valid configuration.
        """
        try:
            return _read_key_file(Path(path))
        except FileNotFoundError:
            pass
        # None means another process created the file first: use its keys.
        return _create_key_file(Path(path)) or _read_key_file(Path(path))

    def rotated(self, new_key_id: str | None = None) -> SecretBox:
        """A box with a fresh active key, keeping every current key to decrypt.

        The hash key is kept, so existing keyed hashes still match.
        """
        key_id = new_key_id or self._next_key_id()
        if key_id in self._keys:
            msg = f"key id {key_id!r} is already loaded; choose a new one"
            raise SecretConfigError(msg)
        keys = {**self._keys, key_id: _new_key()}
        return SecretBox(keys, key_id, self._hash_key)

    def export_config(self) -> str:
        """The configuration that rebuilds this box. It holds every key."""
        parts = [f"active={self._active_key_id}", f"hash={_b64(self._hash_key)}"]
        parts += [f"{kid}={_b64(self._keys[kid])}" for kid in self.key_ids]
        return "\n".join(parts) + "\n"

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Encrypt `plaintext` under the active key, bound to `context`.

        Returns:
            `enc:v1:<key id>:<base64url>`, ASCII, different on every call.
        """
        nonce = os.urandom(NONCE_BYTES)
        key_id = self._active_key_id
        sealed = self._ciphers[key_id].encrypt(
            nonce, plaintext.encode("utf-8"), _associated_data(key_id, context)
        )
        return f"{_PREFIX}{key_id}:{_b64(nonce + sealed)}"

    def decrypt(self, ciphertext: str, *, context: str) -> str:
        """Decrypt what `encrypt` returned for the same `context`.

        Raises:
            MalformedCiphertextError: `ciphertext` is not in the `enc:v1` form.
            UnknownKeyIdError: it names a key that is not loaded.
            CiphertextRejectedError: it was altered or is for another context.
        """
        key_id, payload = _split_ciphertext(ciphertext)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyIdError(key_id, self.key_ids)
        nonce, sealed = payload[:NONCE_BYTES], payload[NONCE_BYTES:]
        try:
            plaintext = cipher.decrypt(nonce, sealed, _associated_data(key_id, context))
        except InvalidTag:
            raise CiphertextRejectedError(key_id, context) from None
        return plaintext.decode("utf-8")

    @staticmethod
    def is_ciphertext(value: str) -> bool:
        """Whether `value` has the form of a SecretBox ciphertext."""
        return value.startswith(_PREFIX)

    def keyed_hash(
        self,
        value: str,
        *,
        purpose: str,
        encoding: Literal["hex", "b64url"] = "hex",
    ) -> str:
        """HMAC-SHA256 of `value` for `purpose`, under the hash key.

        The purpose is length-prefixed ahead of the value, so no pair of
        (purpose, value) produces the input of another.
        """
        if not purpose:
            msg = "keyed_hash needs a non-empty purpose, such as 'session_id'"
            raise SecretConfigError(msg)
        label = purpose.encode("utf-8")
        message = len(label).to_bytes(4, "big") + label + value.encode("utf-8")
        digest = hmac.new(self._hash_key, message, hashlib.sha256).digest()
        return digest.hex() if encoding == "hex" else _b64(digest)

    def matches_keyed_hash(
        self,
        value: str,
        expected: str,
        *,
        purpose: str,
        encoding: Literal["hex", "b64url"] = "hex",
    ) -> bool:
        """Whether `expected` is the keyed hash of `value` for `purpose`.

        Compares in constant time.
        """
        actual = self.keyed_hash(value, purpose=purpose, encoding=encoding)
        return hmac.compare_digest(actual, expected)

    def _next_key_id(self) -> str:
        number = len(self._keys) + 1
        while f"k{number}" in self._keys:
            number += 1
        return f"k{number}"


def generate_config() -> str:
    """A configuration string with one fresh encryption key and a hash key."""
    return SecretBox.generate().export_config()


def generate_key_file(path: str | os.PathLike[str]) -> SecretBox:
    """Create a key file with fresh keys, readable by its owner only.

    Raises:
        KeyFileError: `path` already exists, or cannot be written.
    """
    box = _create_key_file(Path(path))
    if box is None:
        msg = f"key file {path} already exists; rotate it instead of replacing it"
        raise KeyFileError(msg)
    return box


def rotate_key_file(
    path: str | os.PathLike[str], new_key_id: str | None = None
) -> SecretBox:
    """Add a fresh active key to the key file at `path`, keeping the old keys.

    The file is replaced atomically, so readers see the old or the new key
    set, never a partial one. Two rotations of one file must not run at the
    same time: the later write would drop the key the other one added.

    Raises:
        KeyFileError: the file is missing or cannot be replaced.
        KeyFilePermissionError: the file is open to group or others.
    """
    try:
        box = _read_key_file(Path(path)).rotated(new_key_id)
    except FileNotFoundError:
        msg = f"key file {path} does not exist; there is nothing to rotate"
        raise KeyFileError(msg) from None
    _publish_key_file(Path(path), box, replace=True)
    logger.info(
        "rotated key file %s to key %s",
        path,
        box.active_key_id,
        extra={"event": "secrets.key_file_rotated"},
    )
    return box


def _check_keys(keys: Mapping[str, bytes], active_key_id: str, hash_key: bytes) -> None:
    if not keys:
        msg = "a SecretBox needs at least one encryption key"
        raise SecretConfigError(msg)
    for key_id, key in keys.items():
        _check_key_id(key_id)
        _check_key_length(f"key {key_id!r}", key)
    _check_key_length("the hash key", hash_key)
    if active_key_id not in keys:
        msg = (
            f"active key id {active_key_id!r} is not among the loaded keys "
            f"({', '.join(sorted(keys))})"
        )
        raise SecretConfigError(msg)
    if hash_key in keys.values():
        msg = "the hash key must differ from every encryption key"
        raise SecretConfigError(msg)


def _check_key_id(key_id: str) -> None:
    if key_id in _RESERVED_NAMES or not _KEY_ID.fullmatch(key_id):
        msg = (
            f"key id {key_id!r} is invalid: use 1 to 32 letters, digits, '_' or "
            "'-', other than 'active' and 'hash'"
        )
        raise SecretConfigError(msg)


def _check_key_length(what: str, key: bytes) -> None:
    if len(key) != KEY_BYTES:
        msg = f"{what} is {len(key)} bytes long; expected {KEY_BYTES} (256 bits)"
        raise SecretConfigError(msg)


def _parse_config(config: str, source: str) -> SecretBox:
    parts = _named_parts(config, source)
    active_key_id = _active_key_id(*_take(parts, "active", source), source)
    hash_key = _decode_key(*_take(parts, "hash", source), "hash", source)
    keys = {
        name: _decode_key(number, value, name, source)
        for name, (number, value) in parts.items()
    }
    try:
        return SecretBox(keys, active_key_id, hash_key)
    except SecretConfigError as error:
        msg = f"{source}: {error}"
        raise SecretConfigError(msg) from None


def _named_parts(config: str, source: str) -> dict[str, tuple[int, str]]:
    """The parts of `config` by name, with their positions (1-based)."""
    lines = (line.strip() for line in config.splitlines())
    content = ";".join(line for line in lines if not line.startswith("#"))
    pieces = [piece.strip() for piece in content.split(";") if piece.strip()]
    parts: dict[str, tuple[int, str]] = {}
    for number, piece in enumerate(pieces, start=1):
        name, separator, value = (text.strip() for text in piece.partition("="))
        # A bad name may be a key pasted without its name, so it is not echoed.
        if not separator or not (name in _RESERVED_NAMES or _KEY_ID.fullmatch(name)):
            msg = (
                f"{source}: part {number} is not name=value with a name of 1 to "
                "32 letters, digits, '_' or '-'"
            )
            raise SecretConfigError(msg)
        if name in parts:
            msg = f"{source}: part {number} repeats the name {name!r}"
            raise SecretConfigError(msg)
        parts[name] = (number, value)
    return parts


def _take(parts: dict[str, tuple[int, str]], name: str, source: str) -> tuple[int, str]:
    try:
        return parts.pop(name)
    except KeyError:
        msg = f"{source}: the part {name}=... is missing"
        raise SecretConfigError(msg) from None


def _active_key_id(number: int, value: str, source: str) -> str:
    # Checked here, before any message can quote it: it may be a key.
    if not _KEY_ID.fullmatch(value):
        msg = f"{source}: part {number} (active) does not hold a valid key id"
        raise SecretConfigError(msg)
    return value


def _decode_key(number: int, value: str, name: str, source: str) -> bytes:
    key = _b64_decode(value)
    if key is None:
        msg = f"{source}: part {number} ({name}) is not base64url text"
        raise SecretConfigError(msg)
    if len(key) != KEY_BYTES:
        msg = (
            f"{source}: part {number} ({name}) holds {len(key)} bytes; "
            f"expected a {KEY_BYTES}-byte key"
        )
        raise SecretConfigError(msg)
    return key


def _split_ciphertext(ciphertext: str) -> tuple[str, bytes]:
    # The value is never echoed: a plaintext stored by mistake would leak.
    expected = f"expected '{_PREFIX}<key id>:<base64url>'"
    if not ciphertext.startswith(_PREFIX):
        msg = f"the value is not a SecretBox ciphertext; {expected}"
        raise MalformedCiphertextError(msg)
    key_id, separator, encoded = ciphertext[len(_PREFIX) :].partition(":")
    if not separator or not _KEY_ID.fullmatch(key_id):
        msg = f"the ciphertext has no valid key id; {expected}"
        raise MalformedCiphertextError(msg)
    payload = _b64_decode(encoded)
    if payload is None or len(payload) < NONCE_BYTES + _TAG_BYTES:
        msg = f"the ciphertext under key {key_id!r} has a damaged payload; {expected}"
        raise MalformedCiphertextError(msg)
    return key_id, payload


def _associated_data(key_id: str, context: str) -> bytes:
    # The header is authenticated too, so it cannot be edited to point at
    # another key or format version.
    return f"{_PREFIX}{key_id}:".encode() + context.encode("utf-8")


def _new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64_decode(text: str) -> bytes | None:
    if not _BASE64URL.fullmatch(text):
        return None
    unpadded = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except ValueError:
        return None


def _create_key_file(path: Path) -> SecretBox | None:
    """A fresh key set written to `path`, or None if `path` exists."""
    box = SecretBox.generate()
    if not _publish_key_file(path, box, replace=False):
        return None
    logger.info(
        "created key file %s with key %s",
        path,
        box.active_key_id,
        extra={"event": "secrets.key_file_created"},
    )
    return box


def _read_key_file(path: Path) -> SecretBox:
    """Load a key file, refusing one that others could read or change.

    Raises:
        FileNotFoundError: there is no file at `path`.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise
    except OSError as error:
        msg = f"cannot open key file {path}: {error.strerror}"
        raise KeyFileError(msg) from None
    with os.fdopen(fd, encoding="utf-8") as file:
        _check_owner_only(path, os.fstat(fd).st_mode)
        config = file.read()
    return SecretBox.from_config(config, source=f"key file {path}")


def _check_owner_only(path: Path, mode: int) -> None:
    if mode & 0o077:
        msg = (
            f"key file {path} has mode {mode & 0o777:04o}, open to group or "
            f"others; run `chmod 600 {path}` and check who may have read it"
        )
        raise KeyFilePermissionError(msg)


def _publish_key_file(path: Path, box: SecretBox, *, replace: bool) -> bool:
    """Write `box` to `path` through a private temporary file.

    The temporary file is created with O_EXCL and mode 0600, so the keys are
    never in a file that others can read, and appear at `path` complete.

    Returns:
        False when `replace` is off and `path` already exists.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        _write_private_file(temporary, _key_file_text(box))
        if replace:
            os.replace(temporary, path)
            return True
        try:
            # link() fails if `path` exists, where rename() would replace it.
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    except OSError as error:
        msg = f"cannot write key file {path}: {error.strerror}"
        raise KeyFileError(msg) from None
    finally:
        temporary.unlink(missing_ok=True)


def _write_private_file(path: Path, text: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, _OWNER_ONLY)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def _key_file_text(box: SecretBox) -> str:
    header = (
        "# loginledger secret box keys. Keep this file secret (mode 0600).\n"
        "# Losing a key loses every value encrypted with it.\n"
    )
    return header + box.export_config()
