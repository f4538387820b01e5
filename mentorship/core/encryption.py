"""Secrets at rest: Fernet encryption for the Canvas tokens the portal stores (mentors' and its own).

Keys come from settings.FIELD_ENCRYPTION_KEYS, newest first: MultiFernet encrypts with the first key and decrypts with
any, so a key rotation is "put the new key first, run `manage.py rotate_canvas_token_keys`, then drop the old key". In
development, with no keys configured, one key is derived from SECRET_KEY so `make run` needs no setup (settings
refuses production without keys). It lives in core because the client factory (core.canvas) decrypts the portal's
own token, and core is below every app that stores one (docs/architecture.md, "Layers").

No function here logs or raises a message that contains a token.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class TokenDecryptError(Exception):
    """A stored token cannot be decrypted with any configured key (a key was dropped before rotation)."""


def _derived_dev_key(secret_key: str) -> bytes:
    digest = hashlib.sha256(("mentor-link canvas tokens:" + secret_key).encode()).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    raw = [k.encode() for k in keys if k] or [_derived_dev_key(secret_key)]
    return MultiFernet([Fernet(k) for k in raw])


def fernet() -> MultiFernet:
    """The MultiFernet for the configured keys (newest first)."""
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS), str(settings.SECRET_KEY))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    try:
        return fernet().decrypt(value.encode()).decode()
    except InvalidToken:
        raise TokenDecryptError(
            "A stored Canvas token cannot be decrypted with the configured keys. "
            "Put the old key back in FIELD_ENCRYPTION_KEYS (after the new one) and rotate."
        ) from None


def rotate(value: str) -> str:
    """``value`` re-encrypted with the newest key."""
    return fernet().rotate(value.encode()).decode()


__all__ = ["TokenDecryptError", "decrypt", "encrypt", "fernet", "rotate"]
