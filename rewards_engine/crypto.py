"""Encryption at rest of what a database dump must not reveal: gift-card codes and
payout destinations. Fernet (AES-128-CBC + HMAC-SHA256).

``ENCRYPTION_KEYS`` holds one or more Fernet keys, comma-separated: the first encrypts,
all decrypt (``MultiFernet``), so keys can be rotated without a flag day.

A keyed fingerprint (HMAC-SHA256) finds a code uploaded twice, or a payout destination
shared by several donors, without decrypting anything. Its keys are their own
(``FINGERPRINT_KEYS``, newest first: the first fingerprints, each is matched), so
rotating the encryption keys changes no fingerprint. ``legacy`` in that list stands for
the key installations used before: derived from an encryption key (each configured one
is tried, so matching survives an encryption-key rotation too).
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from rewards_engine.config import NO_ENCRYPTION_KEY, ConfigError

log = logging.getLogger(__name__)
LEGACY = "legacy"  # FINGERPRINT_KEYS entry: the key derived from the first encryption key


def legacy_fingerprint_key(encryption_key: str) -> bytes:
    """The fingerprint key before FINGERPRINT_KEYS existed, derived from an encryption key."""
    return hashlib.sha256(b"fingerprint:" + encryption_key.encode()).digest()


class Vault:
    def __init__(self, keys: tuple[str, ...], fingerprint_keys: tuple[str, ...] = ()) -> None:
        if not keys:
            raise ConfigError(NO_ENCRYPTION_KEY)
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        self._first = keys[0].encode()
        # written under the legacy key: a warning, once, at the first fingerprint
        self._legacy = not fingerprint_keys or fingerprint_keys[0] == LEGACY
        self._warned = False
        expanded: list[bytes] = []
        for entry in fingerprint_keys or (LEGACY,):
            if entry == LEGACY:
                expanded.extend(legacy_fingerprint_key(key) for key in keys)
            else:
                expanded.append(hashlib.sha256(b"fingerprint-key:" + entry.encode()).digest())
        self._fingerprint_keys = tuple(dict.fromkeys(expanded))  # newest first, once each

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
        """The fingerprint written now: under the newest fingerprint key."""
        return self._mac(self._fingerprint_keys[0], code)

    def fingerprints(self, code: str) -> tuple[str, ...]:
        """Every fingerprint the value may be stored under, the newest first: what a
        duplicate check matches, so that it spans a rotation."""
        return tuple(self._mac(key, code) for key in self._fingerprint_keys)

    def _mac(self, key: bytes, code: str) -> str:
        if self._legacy and not self._warned:
            self._warned = True
            log.warning(
                "fingerprints use the legacy key derived from ENCRYPTION_KEYS: set "
                "FINGERPRINT_KEYS (docs/operations.md, Secrets)"
            )
        return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def generate_key() -> str:
    return Fernet.generate_key().decode()
