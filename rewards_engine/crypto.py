"""Encryption at rest of what a database dump must not reveal: gift-card codes and
payout destinations. Fernet (AES-128-CBC + HMAC-SHA256).

``ENCRYPTION_KEYS`` holds one or more Fernet keys, comma-separated: the first encrypts,
all decrypt (``MultiFernet``), so keys can be rotated without a flag day. A keyed
fingerprint (HMAC-SHA256 under a key derived from the first one) finds a code
uploaded twice without decrypting anything.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from rewards_engine.config import NO_ENCRYPTION_KEY, ConfigError


class Vault:
    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ConfigError(NO_ENCRYPTION_KEY)
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        self._fingerprint_key = hashlib.sha256(b"fingerprint:" + keys[0].encode()).digest()
        self._first = keys[0].encode()

    def encrypt(self, code: str) -> str:
        return self._fernet.encrypt(code.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:  # a key was removed too early, or the row was altered
            raise RuntimeError(
                "a gift-card code cannot be decrypted with the keys configured"
            ) from exc

    def derived_key(self, purpose: str) -> bytes:
        """A key for one purpose (signing upload URLs, video links), derived from the
        first master key, so that no further secret needs configuring."""
        return hmac.new(self._first, f"derived:{purpose}".encode(), hashlib.sha256).digest()

    def fingerprint(self, code: str) -> str:
        return hmac.new(self._fingerprint_key, code.encode(), hashlib.sha256).hexdigest()


def generate_key() -> str:
    return Fernet.generate_key().decode()
