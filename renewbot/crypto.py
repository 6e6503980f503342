"""Encryption of stored secrets with Fernet keys, newest first (MultiFernet)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from renewbot.errors import ConfigError


class SecretBox:
    def __init__(self, keys: tuple[str, ...] | list[str]) -> None:
        self._fernet: MultiFernet | None = None
        if keys:
            try:
                self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
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

    def can_decrypt(self, ciphertext: str) -> bool:
        try:
            self.decrypt(ciphertext)
        except ConfigError:
            return False
        return True
