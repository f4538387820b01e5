"""The audit log's two keys, read from settings: the HMAC keys of the chain and the Ed25519 key of its checkpoints.

Neither is in the database, which is the point (docs/decisions.md, "The audit chain is keyed and signed"): whoever can
rewrite the table can recompute every SHA-256 link, but not the MAC of an event nor the signature of a checkpoint.

In development, with nothing configured, both are derived from SECRET_KEY (as the Canvas token key is in
mentorship/core/encryption.py), so `make run` needs no setup; settings refuses production without them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEV_KEY_ID = "dev"


@dataclass(frozen=True)
class MacKeys:
    current_id: str
    keys: dict[str, bytes]

    def mac(self, chain_hash: str, key_id: str | None = None) -> str:
        """HMAC-SHA256 of an event's chain hash under the named key (the current one by default)."""
        key = self.keys[key_id or self.current_id]
        return hmac.new(key, chain_hash.encode(), hashlib.sha256).hexdigest()


def _derive(purpose: str) -> bytes:
    return hashlib.sha256(f"mentor-link {purpose}:{settings.SECRET_KEY}".encode()).digest()


@lru_cache(maxsize=4)
def _parse_mac_keys(entries: tuple[str, ...]) -> MacKeys:
    if not entries:
        return MacKeys(DEV_KEY_ID, {DEV_KEY_ID: _derive("audit chain mac")})
    keys: dict[str, bytes] = {}
    for entry in entries:
        key_id, _, encoded = entry.partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            key = b""
        if not key_id or len(key) < 32 or len(key_id) > 32:
            raise ImproperlyConfigured(
                "AUDIT_HMAC_KEYS: each entry is key_id:base64-key, with an id of at most 32 characters and a key of "
                "at least 32 bytes."
            )
        keys[key_id] = key
    return MacKeys(entries[0].partition(":")[0], keys)


def mac_keys() -> MacKeys:
    return _parse_mac_keys(tuple(k for k in settings.AUDIT_HMAC_KEYS if k))


@lru_cache(maxsize=4)
def _private_key(encoded: str, secret_key: str) -> Ed25519PrivateKey:
    if not encoded:
        return Ed25519PrivateKey.from_private_bytes(_derive("audit checkpoint signing"))
    try:
        seed = base64.b64decode(encoded, validate=True)
        return Ed25519PrivateKey.from_private_bytes(seed)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured("AUDIT_SIGNING_KEY must be the base64 of a 32-byte Ed25519 private key.") from None


def signing_key() -> Ed25519PrivateKey:
    return _private_key(str(settings.AUDIT_SIGNING_KEY), str(settings.SECRET_KEY))


def public_key_bytes() -> bytes:
    """The raw 32-byte public key: what an outside auditor pins (docs/operations.md)."""
    return signing_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_id() -> str:
    """A short name for the signing key: the first 16 hex digits of the SHA-256 of its public key."""
    return hashlib.sha256(public_key_bytes()).hexdigest()[:16]
