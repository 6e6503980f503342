"""Typed settings, read once from the environment (and ./.env) and passed down."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from renewbot.domain.patterns import is_person_or_group
from renewbot.domain.urls import secure_url_problem
from renewbot.errors import ConfigError
from renewbot.runtime.logs import LOG_FORMATS

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///data/renewbot.db"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # Slack's payloads are a few KB; a modal with 100 blocks stays far below
DEFAULT_LWA_URL = "https://api.amazon.com"


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class AttentionSettings:
    """When follow-ups go out: escalation delay, the daily reminder's hour and the weekly digest's slot."""
    escalate_after_hours: float = 4.0
    reminder_hour: int = 9
    reminder_tz: str = "UTC"
    digest_day: int = 0  # Monday, as date.weekday() counts
    digest_hour: int = 9
    digest_minute: int = 0
    digest_tz: str = "UTC"
    allow_now: bool = False  # RENEWBOT_ALLOW_NOW=1: `scan --now` may post (tests); otherwise only --dry-run

    @classmethod
    def from_values(cls, get: Callable[[str], str | None]) -> AttentionSettings:
        def zone(name: str) -> str:
            value = get(name) or "UTC"
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(f"{name}: unknown time zone {value[:60]!r} (e.g. UTC, Europe/Berlin)") from None
            return value

        try:
            hours = float(get("ESCALATE_AFTER_HOURS") or 4)
        except ValueError:
            raise ConfigError("ESCALATE_AFTER_HOURS must be a number of hours") from None
        if not 0 <= hours <= 24 * 30:
            raise ConfigError("ESCALATE_AFTER_HOURS must be between 0 and 720")
        hour = get("REMINDER_HOUR") or "9"
        if not (hour.isascii() and hour.isdigit() and int(hour) <= 23):
            raise ConfigError("REMINDER_HOUR must be an hour from 0 to 23")
        day = (get("DIGEST_DAY") or "monday").lower()
        if day not in WEEKDAYS:
            raise ConfigError(f"DIGEST_DAY must be a day of the week ({', '.join(WEEKDAYS)})")
        when = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", get("DIGEST_TIME") or "09:00")
        if when is None:
            raise ConfigError("DIGEST_TIME must be HH:MM (24-hour), e.g. 09:00")
        return cls(escalate_after_hours=hours, reminder_hour=int(hour), reminder_tz=zone("REMINDER_TZ"),
                   digest_day=WEEKDAYS.index(day), digest_hour=int(when[1]), digest_minute=int(when[2]),
                   digest_tz=zone("DIGEST_TZ"), allow_now=get("RENEWBOT_ALLOW_NOW") == "1")


SECRET_ENTRIES = ("page", "modal")


@dataclass(frozen=True)
class SecretEntrySettings:
    """How a renewed secret reaches renewbot: Amazon's authorization (SP-API), a one-time private page, or the
    Slack form itself ("modal", the only way without a public URL, e.g. in Socket Mode)."""
    public_url: str | None = None  # renewbot's public base URL, no trailing slash
    secret_entry: str = "modal"  # "page" (the default when public_url is set) or "modal"
    amazon_spapi_app_id: str | None = None  # the SP-API application id: turns on "Authorize with Amazon"
    amazon_seller_central_url: str | None = None  # overrides each marketplace's Seller Central base (tests)
    amazon_spapi_draft: bool = False  # AMAZON_SPAPI_DRAFT=1: consent with &version=beta (an app still in draft)

    @classmethod
    def from_values(cls, get: Callable[[str], str | None]) -> SecretEntrySettings:
        public_url = (get("PUBLIC_URL") or "").rstrip("/") or None
        if public_url and (problem := secure_url_problem(public_url, "PUBLIC_URL")):
            raise ConfigError(problem)
        if public_url and ("?" in public_url or "#" in public_url):  # links are built by appending paths to it
            raise ConfigError("PUBLIC_URL must be a base address without a query string or fragment")
        entry = (get("SECRET_ENTRY") or ("page" if public_url else "modal")).lower()
        if entry not in SECRET_ENTRIES:
            raise ConfigError(f"SECRET_ENTRY must be {' or '.join(SECRET_ENTRIES)}")
        if entry == "page" and not public_url:
            raise ConfigError("SECRET_ENTRY=page needs PUBLIC_URL (the address people open the private page at)")
        seller_central = (get("AMAZON_SELLER_CENTRAL_URL") or "").rstrip("/") or None
        if seller_central and (problem := secure_url_problem(seller_central, "AMAZON_SELLER_CENTRAL_URL")):
            raise ConfigError(problem)
        return cls(public_url=public_url, secret_entry=entry, amazon_spapi_app_id=get("AMAZON_SPAPI_APP_ID"),
                   amazon_seller_central_url=seller_central, amazon_spapi_draft=get("AMAZON_SPAPI_DRAFT") == "1")


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
    log_format: str = "text"  # LOG_FORMAT: "text", or "json" for one JSON object per line
    attention: AttentionSettings = AttentionSettings()
    entry: SecretEntrySettings = SecretEntrySettings()

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
        log_format = (get("LOG_FORMAT") or "text").lower()
        if log_format not in LOG_FORMATS:
            raise ConfigError(f"LOG_FORMAT must be {' or '.join(LOG_FORMATS)}")
        entry = SecretEntrySettings.from_values(get)
        if entry.amazon_spapi_app_id and entry.public_url and not get("AMAZON_LWA_CLIENT_ID"):
            # Caught now rather than at the first person's return from Amazon's consent page.
            raise ConfigError("AMAZON_SPAPI_APP_ID needs AMAZON_LWA_CLIENT_ID (and its secret, in "
                              "AMAZON_LWA_CLIENT_SECRET or a tracked amazon-lwa-client-secret token)")
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
            log_format=log_format,
            attention=AttentionSettings.from_values(get),
            entry=entry,
        )
