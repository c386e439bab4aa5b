"""A workspace's own keys and its partners' public keys (``palermo keys``).

Each workspace that shares holds two key pairs made with ``cryptography``: Ed25519 to sign what
it sends (and its revocations), X25519 to receive what is encrypted to it. The private keys are
PKCS#8 PEM files in ``WORKSPACE/keys/`` (mode 0600), encrypted with ``$PALERMO_KEY_PASSPHRASE``
when it is set (the library's best available scheme). The public half is a small JSON bundle
(``palermo keys export``) handed to a partner out of band; its fingerprint (SHA-256 of both
public keys) is what the two agencies compare by phone before trusting it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from palermo.errors import PalermoError

BUNDLE_FORMAT = "palermo-public-key/1"
PASSPHRASE_ENV = "PALERMO_KEY_PASSPHRASE"  # noqa: S105 (the variable's name)


class KeysError(PalermoError):
    """Missing, unreadable or invalid keys."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise KeysError(f"{what}: not base64") from None


def _raw(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(signing: bytes, encryption: bytes) -> str:
    return hashlib.sha256(b"palermo-key\0" + signing + encryption).hexdigest()


@dataclass(frozen=True)
class PublicKeys:
    name: str
    signing: Ed25519PublicKey
    encryption: X25519PublicKey

    @property
    def fingerprint(self) -> str:
        return fingerprint(_raw(self.signing), _raw(self.encryption))

    def bundle(self) -> dict[str, Any]:
        return {"format": BUNDLE_FORMAT, "name": self.name, "signing_key": b64(_raw(self.signing)),
                "encryption_key": b64(_raw(self.encryption)), "fingerprint": self.fingerprint}  # fmt: skip

    @classmethod
    def from_raw(cls, name: str, signing: bytes, encryption: bytes) -> PublicKeys:
        try:
            return cls(name, Ed25519PublicKey.from_public_bytes(signing),
                       X25519PublicKey.from_public_bytes(encryption))  # fmt: skip
        except ValueError as exc:
            raise KeysError(f"public keys of {name!r}: {exc}") from None

    @classmethod
    def read_bundle(cls, path: Path) -> PublicKeys:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise KeysError(f"{path}: not a public key bundle ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
            raise KeysError(f"{path}: not a public key bundle (format {BUNDLE_FORMAT!r} expected)")
        for field in ("name", "signing_key", "encryption_key", "fingerprint"):
            if not isinstance(data.get(field), str):
                raise KeysError(f"{path}: field {field!r} missing")
        keys = cls.from_raw(
            data["name"],
            unb64(data["signing_key"], f"{path}: signing_key"),
            unb64(data["encryption_key"], f"{path}: encryption_key"),
        )
        if keys.fingerprint != data["fingerprint"]:
            raise KeysError(f"{path}: the fingerprint does not match the keys (damaged bundle)")
        return keys


@dataclass(frozen=True)
class OwnKeys:
    name: str
    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey

    @property
    def public(self) -> PublicKeys:
        return PublicKeys(self.name, self.signing.public_key(), self.encryption.public_key())


def keys_dir(root: Path) -> Path:
    return Path(root) / "keys"


def _encryption() -> serialization.KeySerializationEncryption:
    phrase = os.environ.get(PASSPHRASE_ENV)
    if phrase:
        return serialization.BestAvailableEncryption(phrase.encode())
    return serialization.NoEncryption()


def create(root: Path, name: str) -> OwnKeys:
    """Make this workspace's key pairs (refused when it has them: a new key would orphan every
    partner's copy of the old one)."""
    folder = keys_dir(root)
    if (folder / "own.json").exists():
        raise KeysError(f"{folder} already holds this workspace's keys (palermo keys show)")
    if not name.strip():
        raise KeysError("keys init: give the agency's name (--name)")
    own = OwnKeys(name.strip(), Ed25519PrivateKey.generate(), X25519PrivateKey.generate())
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    for file, key in (("signing.pem", own.signing), ("encryption.pem", own.encryption)):
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                _encryption())  # fmt: skip
        fd = os.open(folder / file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
    (folder / "own.json").write_text(json.dumps(own.public.bundle(), indent=2) + "\n")
    return own


def load(root: Path) -> OwnKeys:
    folder = keys_dir(root)
    try:
        bundle = json.loads((folder / "own.json").read_text())
    except (OSError, json.JSONDecodeError):
        raise KeysError(
            f"this workspace has no keys yet ({folder}): make them with palermo keys init --name AGENCY"
        ) from None
    phrase = os.environ.get(PASSPHRASE_ENV)
    loaded = []
    for file in ("signing.pem", "encryption.pem"):
        try:
            loaded.append(serialization.load_pem_private_key(
                (folder / file).read_bytes(), password=phrase.encode() if phrase else None))  # fmt: skip
        except (OSError, ValueError, TypeError) as exc:
            hint = f" (set ${PASSPHRASE_ENV})" if "encrypted" in str(exc).lower() else ""
            raise KeysError(f"{folder / file}: cannot read the private key: {exc}{hint}") from None
    signing, encryption = loaded
    if not isinstance(signing, Ed25519PrivateKey) or not isinstance(encryption, X25519PrivateKey):
        raise KeysError(f"{folder}: the key files are not Ed25519 and X25519 keys")
    own = OwnKeys(str(bundle.get("name", "")), signing, encryption)
    if own.public.fingerprint != bundle.get("fingerprint"):
        raise KeysError(f"{folder}: own.json does not match the private keys")
    return own
