"""Encryption of stored secrets with Fernet keys, newest first (MultiFernet)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from renewbot.errors import ConfigError

# Key ids are stored next to each secret; the label keeps them from matching any other use of a hash of the key.
_KEY_ID_LABEL = b"renewbot secret key id v1\0"
KEY_ID_CHARS = 12


def key_id(key: str) -> str:
    """A short fingerprint of a Fernet key, stored with every secret it encrypts: names the key, never reveals it.

    12 hex digits of SHA-256 over a fixed label and the key's 32 bytes: a one-way function of a random 256-bit
    key, and 48 bits make an accidental match between two keys of one deployment practically impossible.
    """
    return hashlib.sha256(_KEY_ID_LABEL + base64.urlsafe_b64decode(key.encode())).hexdigest()[:KEY_ID_CHARS]


class SecretBox:
    def __init__(self, keys: tuple[str, ...] | list[str]) -> None:
        self._fernet: MultiFernet | None = None
        self._by_id: dict[str, Fernet] = {}
        self.key_ids: tuple[str, ...] = ()
        if keys:
            try:
                fernets = [Fernet(k.encode()) for k in keys]
                self._fernet = MultiFernet(fernets)
                self.key_ids = tuple(key_id(k) for k in keys)
                self._by_id = dict(reversed(list(zip(self.key_ids, fernets, strict=True))))
            except (ValueError, TypeError):
                # The key itself is secret: say which position is bad, never echo it.
                raise ConfigError(
                    "TOKEN_ENCRYPTION_KEYS: every key must be a url-safe base64 Fernet key "
                    "(make one with: python -c "
                    "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
                ) from None

    @property
    def ready(self) -> bool:
        return self._fernet is not None

    @property
    def current_key_id(self) -> str | None:
        """The id of the newest key: the one encrypt() and rotate() use, to be stored as Token.secret_key_id."""
        return self.key_ids[0] if self.key_ids else None

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise ConfigError("TOKEN_ENCRYPTION_KEYS is not set: it is needed to store a renewed token")
        return self._fernet

    def encrypt(self, secret: str) -> str:
        return self._require().encrypt(secret.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._require().decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ConfigError("TOKEN_ENCRYPTION_KEYS cannot decrypt a stored secret (was a key removed?)") from None

    def rotate(self, ciphertext: str, *, label: str) -> str:
        """The same secret under the newest key."""
        try:
            return self._require().rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise ConfigError(f"TOKEN_ENCRYPTION_KEYS cannot decrypt the stored secret of {label}; "
                              "nothing was rotated") from None

    def can_decrypt(self, ciphertext: str, *, key_id: str | None = None) -> bool:
        """Whether the keys (or, given key_id, that one key alone) read `ciphertext`."""
        if key_id is not None:
            fernet = self._by_id.get(key_id)
            try:
                return fernet is not None and fernet.decrypt(ciphertext.encode()) is not None
            except (InvalidToken, ValueError, TypeError):
                return False
        try:
            self.decrypt(ciphertext)
        except (ConfigError, ValueError, TypeError):
            return False
        return True
