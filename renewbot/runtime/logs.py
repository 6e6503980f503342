"""Logging set-up, with redaction of anything shaped like a credential as a second line of defence.

The first line is never passing a secret to a logger at all; this catches the
slip (an exception message, a library's debug line) before it reaches a file.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from renewbot.runtime.log_context import current_ids

REDACTED = "[redacted]"
SECRET_PATTERNS = re.compile("|".join([
    r"(?i:amzn\.mws\.)[0-9A-Fa-f-]{20,}",            # Amazon MWS auth tokens, in any case
    r"(?i:Atz[ar](?:\||%7C))[^\s\"',;)}\]&]+",       # Amazon LWA refresh / access tokens, URL-encoded too
    r"(?i:amzn1\.oa2-cs\.v1\.)[A-Za-z0-9._-]+",        # LWA client secrets
    r"xox[abposre]-[A-Za-z0-9-]{6,}",                   # Slack tokens
    r"xapp-[A-Za-z0-9-]{6,}",                           # Slack app-level tokens
    r"rbk_[A-Za-z0-9_-]{20,}",                          # renewbot's own API keys
    r"gAAAAA[A-Za-z0-9_\-=]{20,}",                      # Fernet ciphertext: harmless alone, still not for logs
    r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=",            # Fernet keys (32 bytes, url-safe base64)
    r"(?<=/renew/)[A-Za-z0-9_-]{16,}",                  # a private page's one-time id, in a logged path
    r"(?<=[?&]state=)[^&\s\"']+",                     # an OAuth state in a logged query string
    r"(?<=[?&]code=)[^&\s\"']+",                      # an OAuth code (and spapi_oauth_code below)
    r"(?<=spapi_oauth_code=)[^&\s\"']+",
    r"(?<=[?&]key=)[^&\s\"']+",                       # an API key given in a URL (calendar feeds)
]))


def redact(text: str, known: Sequence[str] = ()) -> str:
    """Every credential-shaped run, and every `known` value (secrets with no telling shape, such as the
    signing secret or a webhook secret), replaced."""
    for value in known:
        text = text.replace(value, REDACTED)
    return SECRET_PATTERNS.sub(REDACTED, text)


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, *, known: Sequence[str] = ()) -> None:
        super().__init__(fmt)
        # Longest first, so a secret containing another is replaced whole.
        self.known = sorted({v for v in known if v and len(v) >= 8}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.known)


class JsonRedactingFormatter(RedactingFormatter):
    """One JSON object per line: timestamp (ISO-8601 UTC), level, logger, message, the ids in play (log_context) and
    "exc" when an exception is logged. Each value is redacted as the text lines are, before it is encoded
    (a pattern must not be split by JSON escaping); the encoded line is redacted once more for good measure."""

    def __init__(self, *, known: Sequence[str] = ()) -> None:
        super().__init__("%(message)s", known=known)

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **current_ids(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        clean = {k: redact(v, self.known) if isinstance(v, str) else v for k, v in line.items()}
        return redact(json.dumps(clean, ensure_ascii=False), self.known)


LOG_FORMATS = ("text", "json")  # LOG_FORMAT's values (config.py checks against these)


# Libraries whose INFO lines describe their own workings, not what the user asked for.
# waitress logs the path of a request a client dropped, at INFO: a private page's path holds its one-time id.
QUIET_LIBRARIES = ("alembic", "apscheduler", "waitress")


def configure_logging(*, verbose: bool = False, secrets: Sequence[str] = (), log_format: str = "text") -> None:
    """`verbose` (the server) logs what it does at INFO; one-shot commands print their own one line each
    and log only warnings and errors. `secrets` are redacted by value wherever they appear. `log_format`
    "json" writes one JSON object per line (LOG_FORMAT)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonRedactingFormatter(known=secrets) if log_format == "json" else
                         RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", known=secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
