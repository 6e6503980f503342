"""Typed settings, read once from the environment (and ./.env) and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from renewbot.domain.patterns import is_person_or_group
from renewbot.domain.urls import secure_url_problem
from renewbot.errors import ConfigError

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///data/renewbot.db"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # Slack's payloads are a few KB; a modal with 100 blocks stays far below
DEFAULT_LWA_URL = "https://api.amazon.com"


@dataclass(frozen=True, repr=False)
class Settings:
    slack_bot_token: str | None
    slack_signing_secret: str | None
    slack_app_token: str | None
    slack_api_url: str
    database_url: str
    token_encryption_keys: tuple[str, ...]
    port: int
    scan_interval_minutes: float
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Verifying SP-API refresh tokens on renewal: only when both the client id and its secret are set.
    amazon_lwa_url: str = DEFAULT_LWA_URL
    amazon_lwa_client_id: str | None = None
    amazon_lwa_client_secret: str | None = None
    # Who may register tokens with `/renew-token add`: users (U…/W…) and user groups (S…). Empty: any full
    # member of the workspace, who then becomes an owner of what they add.
    admins: tuple[str, ...] = ()

    def __repr__(self) -> str:  # secrets must not reach a log line through repr()
        return (
            f"Settings(slack_api_url={self.slack_api_url!r}, database_url=<set>, port={self.port}, "
            f"socket_mode={self.socket_mode}, keys={len(self.token_encryption_keys)})"
        )

    def secret_values(self) -> tuple[str, ...]:
        """Every secret the settings hold, for the log formatter to redact by value."""
        return tuple(v for v in (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token,
                                 self.amazon_lwa_client_secret, *self.token_encryption_keys) if v)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
        values: dict[str, str] = {}
        if env_file and Path(env_file).is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = (values.get(name) or "").strip()
            return value or None

        keys = tuple(k.strip() for k in (get("TOKEN_ENCRYPTION_KEYS") or "").split(",") if k.strip())
        try:
            port = int(get("PORT") or 3000)
        except ValueError:
            raise ConfigError("PORT must be a number") from None
        try:
            interval = float(get("SCAN_INTERVAL_MINUTES") or 15)
        except ValueError:
            raise ConfigError("SCAN_INTERVAL_MINUTES must be a number") from None
        if interval <= 0:
            raise ConfigError("SCAN_INTERVAL_MINUTES must be more than 0")
        try:
            max_body = int(get("MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES)
        except ValueError:
            raise ConfigError("MAX_BODY_BYTES must be a whole number of bytes") from None
        if not 1024 <= max_body <= 64 * 1024 * 1024:
            raise ConfigError("MAX_BODY_BYTES must be between 1024 and 67108864")
        api_url = get("SLACK_API_URL") or DEFAULT_API_URL
        lwa_url = get("AMAZON_LWA_URL") or DEFAULT_LWA_URL
        # The client secret travels there: https, or plain http only to this machine (a stand-in).
        if problem := secure_url_problem(lwa_url, "AMAZON_LWA_URL"):
            raise ConfigError(problem)
        admins = tuple(a.strip() for a in (get("RENEWBOT_ADMINS") or "").split(",") if a.strip())
        if bad := [a for a in admins if not is_person_or_group(a)]:
            raise ConfigError(f"RENEWBOT_ADMINS: {bad[0][:40]!r} is not a Slack user (U…/W…) or user group (S…) id")
        return cls(
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_app_token=get("SLACK_APP_TOKEN"),
            slack_api_url=api_url if api_url.endswith("/") else api_url + "/",
            database_url=get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            token_encryption_keys=keys,
            port=port,
            scan_interval_minutes=interval,
            max_body_bytes=max_body,
            amazon_lwa_url=lwa_url.rstrip("/"),
            amazon_lwa_client_id=get("AMAZON_LWA_CLIENT_ID"),
            amazon_lwa_client_secret=get("AMAZON_LWA_CLIENT_SECRET"),
            admins=admins,
        )
