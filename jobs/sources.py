"""Each scan reads every token's source (tls://host:port), records what it says, and tells the threads.

Order: list the sources (one short read), read them all concurrently with no transaction open, apply each
reading in its own transaction (renewbot/usecases/sources.py decides), then answer in the threads of notices
that a renewal outside renewbot resolved. Every replica scans; the version check lets one process record a
renewal, and only that one answers. While Slack refuses the bot token nothing is said (the expiry still moves).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from jobs.deliver import SlackHealth
from renewbot.blocks.source import (
    source_renewed_blocks,
    source_renewed_text,
    source_resolved_blocks,
    source_resolved_text,
)
from renewbot.runtime.tls_probe import READ_TIMEOUT, CertificateRead, SourceReadError, read_certificate
from renewbot.usecases import sources
from renewbot.usecases.kinds import ladders
from storage.db import session_scope

logger = logging.getLogger(__name__)

# Reads at once. Each waits on the network, not the CPU: 200 sources that all time out take 200 / 32 × 5 s
# (about 31 s), not 200 × 5 s.
MAX_READS = 32

Reader = Callable[..., CertificateRead]


def _read(item: sources.SourceToRead, read: Reader, timeout: float) -> sources.Reading:
    if item.host is None or item.port is None:
        return sources.Reading(error="not a tls://host:port source")
    try:
        cert = read(item.host, item.port, timeout=timeout)
    except SourceReadError as exc:
        return sources.Reading(error=str(exc))
    except Exception as exc:
        logger.exception("token %s: reading %s failed unexpectedly", item.token_id, item.source)
        return sources.Reading(error=f"read failed ({type(exc).__name__})")
    return sources.Reading(not_after=cert.not_after, subject=cert.subject, issuer=cert.issuer)


def refresh_sources(*, engine: Engine, client: WebClient, now: datetime, read: Reader = read_certificate,
                    timeout: float = READ_TIMEOUT, max_reads: int = MAX_READS,
                    health: SlackHealth | None = None) -> sources.SourcesReport:
    """Reads every source and applies what it says; then replies in each resolved notice's thread, once,
    unless Slack refuses the bot token (`health`)."""
    report = sources.SourcesReport()
    with session_scope(engine) as session:
        todo = sources.sources_to_read(session=session)
        kind_ladders = ladders(session=session)
    if not todo:
        return report
    with ThreadPoolExecutor(max_workers=min(max_reads, len(todo)), thread_name_prefix="source") as pool:
        readings = list(pool.map(lambda item: _read(item, read, timeout), todo))
    for item, reading in zip(todo, readings, strict=True):
        try:
            with session_scope(engine) as session:
                applied = sources.apply_reading(session=session, token_id=item.token_id, source=item.source,
                                                reading=reading, now=now, kind_ladders=kind_ladders)
        except Exception:
            logger.exception("token %s: recording the read of %s failed", item.token_id, item.source)
            continue
        report.applied.append(applied)
        _log(applied, reading)
    for applied in report.of(sources.Change.RENEWED):
        if health is not None and health.refused:
            # Not retried later: the notice itself is closed, and the new expiry shows in status and lists.
            if applied.threads:
                logger.warning("token %s: renewal seen on %s recorded; not answering in %d thread(s) while Slack "
                               "refuses the bot token (%s)", applied.token_id, applied.source, len(applied.threads),
                               health.refused)
            continue
        announce(client, applied)
    return report


def _log(applied: sources.Applied, reading: sources.Reading) -> None:
    if applied.change is sources.Change.FAILED:
        # Once per new reason: a source down for a week is one warning, not one every scan (status shows it).
        log = logger.debug if applied.same_error else logger.warning
        log("token %s: could not read %s (%s); the last known expiry stands", applied.token_id, applied.source,
            reading.error)
    elif applied.change is sources.Change.FIRST:
        logger.info("token %s: expiry %s read from %s", applied.token_id, applied.new_expiry.date(), applied.source)
    elif applied.change is sources.Change.RENEWED:
        logger.info("token %s renewed outside renewbot: %s -> %s, seen on %s", applied.token_id,
                    applied.old_expiry.date(), applied.new_expiry.date(), applied.source)
    elif applied.change is sources.Change.EARLIER and not applied.same_error:
        logger.warning("token %s: %s serves a certificate expiring %s, before the stored %s; kept the stored date",
                       applied.token_id, applied.source, applied.new_expiry.date(), applied.old_expiry.date())


def announce(client: WebClient, applied: sources.Applied) -> None:
    """After the commit: a reply in each open notice's thread, and the notice edited to its resolved state.
    Only the process whose version check recorded the renewal gets here, so each thread hears it once."""
    old, new = applied.old_expiry, applied.new_expiry
    for channel, root in applied.threads:
        try:
            client.chat_postMessage(channel=channel, thread_ts=root, unfurl_links=False,
                                    text=source_renewed_text(applied.token_name, old, new, applied.source),
                                    blocks=source_renewed_blocks(applied.token_name, old, new, applied.source))
            client.chat_update(channel=channel, ts=root, text=source_resolved_text(applied.token_name, old, new),
                               blocks=source_resolved_blocks(applied.token_name, old, new, applied.source))
        except Exception:
            # The new expiry is recorded either way; a lost reply is logged, not retried into a double.
            logger.exception("token %s: renewal seen on %s recorded, but answering in %s failed", applied.token_id,
                             applied.source, channel)
