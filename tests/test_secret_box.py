"""SecretBox: encryption and keyed hashing of secrets at rest, and its keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from loginledger.domain.errors import LoginLedgerError
from loginledger.infrastructure.secrets import (
    CiphertextRejectedError,
    KeyFileError,
    KeyFilePermissionError,
    MalformedCiphertextError,
    SecretBox,
    SecretConfigError,
    UnknownKeyIdError,
    generate_key_file,
    rotate_key_file,
)

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(32, 64))
HASH_KEY = bytes(range(64, 96))
TOKEN = "refresh-token-ABCDEF-0123456789"
CONTEXT = "login-7f3a/3/refresh_token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _config(*parts: str) -> str:
    return ";".join(parts)


ACTIVE = "active=k1"
HASH = f"hash={_b64(HASH_KEY)}"
K1 = f"k1={_b64(KEY_1)}"
K2 = f"k2={_b64(KEY_2)}"
KEY_TEXTS = (_b64(KEY_1), _b64(KEY_2), _b64(HASH_KEY))


@pytest.fixture
def box() -> SecretBox:
    """A box with the fixed key k1 active."""
    return SecretBox({"k1": KEY_1}, active_key_id="k1", hash_key=HASH_KEY)


@pytest.fixture
def private_umask() -> Iterator[None]:
    """A umask that removes nothing, so file modes come from the code alone."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def _tamper(ciphertext: str) -> str:
    head, _, payload = ciphertext.rpartition(":")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[-1] ^= 0x01
    return f"{head}:{_b64(bytes(raw))}"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secret_box_round_trip_returns_the_plaintext(box: SecretBox) -> None:
    """What encrypt returns decrypts, for the same context, to the plaintext."""
    ciphertext = box.encrypt(TOKEN, context=CONTEXT)

    assert box.decrypt(ciphertext, context=CONTEXT) == TOKEN
    assert ciphertext.startswith("enc:v1:k1:")
    assert ciphertext.isascii()
    assert TOKEN not in ciphertext


def test_secret_box_uses_a_fresh_nonce_per_encryption(box: SecretBox) -> None:
    """Encrypting one plaintext twice gives two different ciphertexts."""
    first = box.encrypt(TOKEN, context=CONTEXT)
    second = box.encrypt(TOKEN, context=CONTEXT)

    assert first != second


def test_secret_box_reads_the_documented_format(box: SecretBox) -> None:
    """enc:v1:<key id>:<b64url nonce||sealed>, header and context as AAD."""
    nonce = bytes(12)
    aad = b"enc:v1:k1:" + CONTEXT.encode()
    sealed = AESGCM(KEY_1).encrypt(nonce, TOKEN.encode(), aad)

    plaintext = box.decrypt(f"enc:v1:k1:{_b64(nonce + sealed)}", context=CONTEXT)

    assert plaintext == TOKEN


def test_rotated_box_decrypts_old_and_encrypts_with_the_new_key(
    box: SecretBox,
) -> None:
    """After rotation old ciphertexts still decrypt; new ones name the new key."""
    old = box.encrypt(TOKEN, context=CONTEXT)
    rotated = box.rotated()

    new = rotated.encrypt(TOKEN, context=CONTEXT)

    assert rotated.active_key_id == "k2"
    assert rotated.key_ids == ("k1", "k2")
    assert new.startswith("enc:v1:k2:")
    assert rotated.decrypt(old, context=CONTEXT) == TOKEN
    assert rotated.decrypt(new, context=CONTEXT) == TOKEN


def test_decrypt_with_another_context_is_rejected(box: SecretBox) -> None:
    """A ciphertext copied to another row does not decrypt there."""
    ciphertext = box.encrypt(TOKEN, context=CONTEXT)

    with pytest.raises(CiphertextRejectedError) as rejected:
        box.decrypt(ciphertext, context="login-other/3/refresh_token")

    assert rejected.value.key_id == "k1"
    assert "login-other/3/refresh_token" in str(rejected.value)


def test_decrypt_of_a_tampered_ciphertext_is_rejected(box: SecretBox) -> None:
    """Flipping one bit of the sealed payload fails authentication."""
    ciphertext = box.encrypt(TOKEN, context=CONTEXT)

    with pytest.raises(CiphertextRejectedError):
        box.decrypt(_tamper(ciphertext), context=CONTEXT)


def test_decrypt_rejects_a_header_pointed_at_another_key() -> None:
    """The key id is authenticated: relabelling k1 as k2 fails."""
    both = SecretBox({"k1": KEY_1, "k2": KEY_2}, "k1", HASH_KEY)
    ciphertext = both.encrypt(TOKEN, context=CONTEXT)

    with pytest.raises(CiphertextRejectedError):
        both.decrypt(ciphertext.replace(":k1:", ":k2:"), context=CONTEXT)


def test_decrypt_with_an_unknown_key_id_names_the_id(box: SecretBox) -> None:
    """A ciphertext under a key that is not loaded fails, naming that key."""
    ciphertext = box.rotated("2026-spring").encrypt(TOKEN, context=CONTEXT)

    with pytest.raises(UnknownKeyIdError) as unknown:
        box.decrypt(ciphertext, context=CONTEXT)

    assert unknown.value.key_id == "2026-spring"
    assert "'2026-spring'" in str(unknown.value)


@pytest.mark.parametrize(
    "value",
    [
        TOKEN,
        "enc:v1:",
        "enc:v1:k1",
        f"enc:v1:k 1:{_b64(bytes(40))}",
        "enc:v1:k1:not*base64",
        f"enc:v1:k1:{_b64(bytes(27))}",
        f"enc:v2:k1:{_b64(bytes(40))}",
    ],
)
def test_decrypt_refuses_what_is_not_a_ciphertext(box: SecretBox, value: str) -> None:
    """Plaintext or a damaged value is refused without being echoed."""
    with pytest.raises(MalformedCiphertextError) as malformed:
        box.decrypt(value, context=CONTEXT)

    message = str(malformed.value)
    assert "expected 'enc:v1:<key id>:<base64url>'" in message
    assert value not in message.replace("enc:v1:<key id>:<base64url>", "")


def _failures(box: SecretBox) -> Iterator[LoginLedgerError]:
    ciphertext = box.encrypt(TOKEN, context=CONTEXT)
    attempts: list[Callable[[], object]] = [
        lambda: box.decrypt(TOKEN, context=CONTEXT),
        lambda: box.decrypt(ciphertext, context="elsewhere"),
        lambda: box.decrypt(_tamper(ciphertext), context=CONTEXT),
        lambda: SecretBox({}, "k1", HASH_KEY).decrypt(ciphertext, context=CONTEXT),
        lambda: SecretBox({"k1": KEY_1}, "k1", KEY_1),
        lambda: SecretBox.from_config(_config(ACTIVE, HASH, K1, K1)),
        lambda: SecretBox.from_config(_config(ACTIVE, HASH, _b64(KEY_1))),
        lambda: SecretBox.from_config(_config(f"active={_b64(KEY_1)}", HASH, K1)),
        lambda: SecretBox.from_config(_config(ACTIVE, HASH, f"k1={_b64(KEY_1)[:-2]}")),
    ]
    for attempt in attempts:
        with pytest.raises(LoginLedgerError) as caught:
            attempt()
        yield caught.value


def test_no_secret_appears_in_errors_or_the_repr(box: SecretBox) -> None:
    """Keys, plaintexts and ciphertexts never reach a message or a repr."""
    ciphertext = box.encrypt(TOKEN, context=CONTEXT)
    texts = [str(error) for error in _failures(box)] + [repr(box)]

    forbidden = (*KEY_TEXTS, TOKEN, ciphertext, ciphertext.rpartition(":")[2])
    leaks = [(text, secret) for text in texts for secret in forbidden if secret in text]

    assert len(texts) == 10
    assert leaks == []
    assert repr(box) == "SecretBox(active_key_id='k1', key_ids=('k1',))"


def test_from_config_reads_the_documented_format() -> None:
    """`active=..;hash=..;<id>=..` builds a box that reads its own output."""
    box = SecretBox.from_config(f" {ACTIVE} ; {HASH};\n{K2}; {K1} ")

    reloaded = SecretBox.from_config(box.export_config())

    assert box.active_key_id == "k1"
    assert box.key_ids == ("k1", "k2")
    assert reloaded.decrypt(box.encrypt(TOKEN, context=CONTEXT), context=CONTEXT)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("", "the part active=... is missing"),
        (_config(HASH, K1), "the part active=... is missing"),
        (_config(ACTIVE, K1), "the part hash=... is missing"),
        (_config(ACTIVE, HASH), "a SecretBox needs at least one encryption key"),
        (_config(ACTIVE, HASH, K2), "active key id 'k1' is not among"),
        (_config(ACTIVE, HASH, K1, K1), "part 4 repeats the name 'k1'"),
        (_config(ACTIVE, HASH, _b64(KEY_1)), "part 3 is not name=value"),
        (_config(ACTIVE, HASH, "k1=a*b"), "part 3 (k1) is not base64url text"),
        (_config(ACTIVE, HASH, "k1=AAAA"), "part 3 (k1) holds 3 bytes; expected"),
        (_config("active=k/1", HASH, K1), "part 1 (active) does not hold a valid"),
        (_config("hash=" + _b64(KEY_1), ACTIVE, K1), "hash key must differ"),
    ],
)
def test_from_config_errors_name_the_offending_part(config: str, expected: str) -> None:
    """Each configuration mistake is reported with where it is."""
    with pytest.raises(SecretConfigError) as invalid:
        SecretBox.from_config(config)

    assert str(invalid.value).startswith("secret box configuration: ")
    assert expected in str(invalid.value)


def test_from_key_file_creates_an_owner_only_file_once(
    tmp_path: Path, private_umask: None
) -> None:
    """A missing key file is created with mode 0600 and reused afterwards."""
    path = tmp_path / "keys"
    created = SecretBox.from_key_file(path)
    ciphertext = created.encrypt(TOKEN, context=CONTEXT)

    loaded = SecretBox.from_key_file(path)

    assert _mode(path) == 0o600
    assert loaded.decrypt(ciphertext, context=CONTEXT) == TOKEN
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_from_key_file_refuses_a_file_open_to_others(tmp_path: Path, mode: int) -> None:
    """A key file that group or others may access is refused, saying the fix."""
    path = tmp_path / "keys"
    generate_key_file(path)
    path.chmod(mode)

    with pytest.raises(KeyFilePermissionError) as refused:
        SecretBox.from_key_file(path)

    assert f"chmod 600 {path}" in str(refused.value)
    assert f"{mode:04o}" in str(refused.value)


def test_from_key_file_reports_a_file_with_bad_content(tmp_path: Path) -> None:
    """A key file that is not a configuration is reported by its path."""
    path = tmp_path / "keys"
    path.write_text(_config(ACTIVE, K1))
    path.chmod(0o600)

    with pytest.raises(SecretConfigError) as invalid:
        SecretBox.from_key_file(path)

    assert str(invalid.value).startswith(f"key file {path}: the part hash")


def test_generate_key_file_refuses_to_replace_a_file(tmp_path: Path) -> None:
    """Generating over an existing key file fails and leaves it as it was."""
    path = tmp_path / "keys"
    path.write_text("kept")

    with pytest.raises(KeyFileError, match="already exists"):
        generate_key_file(path)

    assert path.read_text() == "kept"


def test_rotate_key_file_adds_an_active_key_and_keeps_the_old(
    tmp_path: Path, private_umask: None
) -> None:
    """Rotation writes a new active key; old ciphertexts and hashes still work."""
    path = tmp_path / "keys"
    before = generate_key_file(path)
    old = before.encrypt(TOKEN, context=CONTEXT)

    rotate_key_file(path)
    after = SecretBox.from_key_file(path)

    assert after.active_key_id == "k2"
    assert after.decrypt(old, context=CONTEXT) == TOKEN
    assert after.keyed_hash(TOKEN, purpose="state") == before.keyed_hash(
        TOKEN, purpose="state"
    )
    assert _mode(path) == 0o600
    assert list(tmp_path.iterdir()) == [path]


def test_rotate_key_file_refuses_a_missing_file(tmp_path: Path) -> None:
    """Rotating a key file that does not exist fails and creates nothing."""
    with pytest.raises(KeyFileError, match="nothing to rotate"):
        rotate_key_file(tmp_path / "keys")

    assert list(tmp_path.iterdir()) == []


def test_from_key_file_reports_a_missing_directory(tmp_path: Path) -> None:
    """A key file path whose folder is missing fails with a KeyFileError."""
    path = tmp_path / "absent" / "keys"

    with pytest.raises(KeyFileError, match=f"cannot write key file {path}"):
        SecretBox.from_key_file(path)


def test_keyed_hash_is_hmac_sha256_over_the_prefixed_purpose(box: SecretBox) -> None:
    """The hash is stable: HMAC-SHA256 of len(purpose) || purpose || value."""
    message = (10).to_bytes(4, "big") + b"session_id" + TOKEN.encode()
    expected = hmac.new(HASH_KEY, message, hashlib.sha256).digest()

    assert box.keyed_hash(TOKEN, purpose="session_id") == expected.hex()
    assert box.keyed_hash(TOKEN, purpose="session_id", encoding="b64url") == _b64(
        expected
    )


def test_keyed_hash_separates_purposes(box: SecretBox) -> None:
    """One value hashed for two purposes gives two unrelated hashes."""
    as_session = box.keyed_hash(TOKEN, purpose="session_id")
    as_state = box.keyed_hash(TOKEN, purpose="state")

    assert as_session != as_state
    assert box.matches_keyed_hash(TOKEN, as_session, purpose="session_id")
    assert not box.matches_keyed_hash(TOKEN, as_session, purpose="state")


def test_keyed_hash_survives_rotation_of_encryption_keys(box: SecretBox) -> None:
    """Rotating encryption keys keeps the hash key, so hashes still match."""
    rotated = box.rotated()

    assert rotated.keyed_hash("v", purpose="p") == box.keyed_hash("v", purpose="p")


def test_keyed_hash_needs_a_purpose(box: SecretBox) -> None:
    """An empty purpose would defeat the separation, so it is refused."""
    with pytest.raises(SecretConfigError, match="non-empty purpose"):
        box.keyed_hash(TOKEN, purpose="")
