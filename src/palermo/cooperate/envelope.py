"""The sealed file a partner receives: signed by the sender, readable by the recipient only.

Four lines, every byte of the first three covered by the signature (so a single changed byte
anywhere is refused, before anything is decrypted)::

    PALERMO-PACKAGE/1
    {"created_at": ..., "kind": ..., "package_id": ..., "recipient": FP, "sender": FP, ...}
    <base64: the payload encrypted with ChaCha20-Poly1305>
    <base64: Ed25519 signature of the three lines above>

The payload key comes from an X25519 exchange between a fresh key of the sender's and the
recipient's public key, through HKDF-SHA256 (the header is the AEAD's associated data, so it
cannot be moved onto another payload). A revocation notice is the same file with ``kind``
``revocation`` and an unencrypted payload: anyone may read it, only the sender can have made it.
All of it from ``cryptography``; nothing here is home-made cryptography, only the framing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from palermo.cooperate.keys import OwnKeys, PublicKeys, b64, unb64
from palermo.errors import PalermoError

MAGIC = b"PALERMO-PACKAGE/1"


class PackageRefused(PalermoError):
    """A package or notice that is damaged, modified, not from a known partner or not for us."""


@dataclass(frozen=True)
class Opened:
    header: dict[str, Any]
    payload: bytes
    sender: PublicKeys


def _canonical(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _key(secret: bytes, header: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"palermo-package/1\0" + header).derive(secret)  # fmt: skip


def seal(
    header: dict[str, Any], payload: bytes, sender: OwnKeys, recipient: PublicKeys | None
) -> bytes:
    """The sealed file. ``recipient`` None: the payload stays readable (revocation notices)."""
    header = {**header, "sender": sender.public.fingerprint}
    if recipient is not None:
        ephemeral = X25519PrivateKey.generate()
        header["recipient"] = recipient.fingerprint
        header["ephemeral"] = b64(ephemeral.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw))  # fmt: skip
        header["nonce"] = b64(os.urandom(12))
        head = _canonical(header)
        key = _key(ephemeral.exchange(recipient.encryption), head)
        body = ChaCha20Poly1305(key).encrypt(unb64(header["nonce"], "nonce"), payload, head)
    else:
        head, body = _canonical(header), payload
    signed = MAGIC + b"\n" + head + b"\n" + b64(body).encode()
    return signed + b"\n" + b64(sender.signing.sign(signed)).encode() + b"\n"


def open_sealed(
    data: bytes, source: str, partners: dict[str, PublicKeys], own: Callable[[], OwnKeys] | None
) -> Opened:
    """Check the signature (of a known partner's key), then decrypt with the keys ``own``
    loads (only then: a notice needs none); refuse with a reason that names ``source``."""
    parts = data.split(b"\n")
    if len(parts) != 5 or parts[0] != MAGIC or parts[4] != b"":
        raise PackageRefused(f"{source}: not a Palermo package, or damaged (its framing is broken)")
    try:
        header = json.loads(parts[1])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PackageRefused(f"{source}: damaged header") from None
    if not isinstance(header, dict) or not isinstance(header.get("sender"), str):
        raise PackageRefused(f"{source}: damaged header")
    sender = partners.get(header["sender"])
    if sender is None:
        raise PackageRefused(
            f"{source}: from an unknown key {header['sender'][:16]}...; import the sender's public"
            " key first (palermo keys import), after checking its fingerprint with them"
        )
    try:
        signature = unb64(parts[3].decode("ascii"), "signature")
        sender.signing.verify(signature, b"\n".join(parts[:3]))
    except (InvalidSignature, PalermoError, UnicodeDecodeError):
        raise PackageRefused(
            f"{source}: the signature does not match: the file was modified after {sender.name}"
            " signed it, or not signed by them. Nothing was imported."
        ) from None
    if _canonical(header) != parts[1]:
        raise PackageRefused(f"{source}: header not in canonical form")
    body = unb64(parts[2].decode("ascii"), "payload")
    if "recipient" not in header:
        return Opened(header, body, sender)
    mine = own() if own is not None else None
    if mine is None or header["recipient"] != mine.public.fingerprint:
        raise PackageRefused(
            f"{source}: addressed to another workspace's key ({header['recipient'][:16]}...)"
        )
    try:
        peer = X25519PublicKey.from_public_bytes(unb64(header["ephemeral"], "ephemeral key"))
        key = _key(mine.encryption.exchange(peer), parts[1])
        payload = ChaCha20Poly1305(key).decrypt(unb64(header["nonce"], "nonce"), body, parts[1])
    except (InvalidTag, ValueError, KeyError):
        raise PackageRefused(f"{source}: cannot be decrypted with this workspace's key") from None
    return Opened(header, payload, sender)
