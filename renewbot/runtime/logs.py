"""Logging set-up, with redaction of anything shaped like a credential as a second line of defence.

The first line is never passing a secret to a logger at all; this catches the
slip (an exception message, a library's debug line) before it reaches a file.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
SECRET_PATTERNS = re.compile("|".join([
    r"amzn\.mws\.[0-9A-Fa-f-]{20,}",         # Amazon MWS auth tokens
    r"Atz[ar]\|[^\s\"',;)}\]]+",              # Amazon LWA refresh / access tokens
    r"xox[abposre]-[A-Za-z0-9-]{6,}",         # Slack tokens
    r"xapp-[A-Za-z0-9-]{6,}",                 # Slack app-level tokens
    r"gAAAAA[A-Za-z0-9_\-=]{20,}",            # Fernet ciphertext: harmless alone, still not for logs
]))


def redact(text: str) -> str:
    return SECRET_PATTERNS.sub(REDACTED, text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# Libraries whose INFO lines describe their own workings, not what the user asked for.
QUIET_LIBRARIES = ("alembic", "apscheduler", "waitress.queue")


def configure_logging(*, verbose: bool = False) -> None:
    """`verbose` (the server) logs what it does at INFO; one-shot commands print their own one line each
    and log only warnings and errors."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
