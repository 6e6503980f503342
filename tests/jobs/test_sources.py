"""`source: tls://host:port`: every scan reads the served certificate, against a real local TLS server whose
certificate is swapped while it runs, and the Slack stand-in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlmodel import select

from jobs.deliver import SlackHealth
from jobs.plan import plan_notices
from jobs.scan import scan
from jobs.sources import refresh_sources
from renewbot.blocks.common import MAX_CONTEXT_TEXT, MAX_SECTION_TEXT
from renewbot.blocks.source import (
    source_renewed_blocks,
    source_renewed_text,
    source_resolved_blocks,
    source_resolved_text,
)
from renewbot.domain.thresholds import UNKNOWN_EXPIRY
from renewbot.runtime.slack_client import make_client
from renewbot.runtime.tls_probe import SourceReadError, parse_leaf, read_certificate
from renewbot.usecases import audit, sources
from renewbot.usecases.status import collect, render_text
from storage.db import session_scope
from storage.models import Notice, Renewal, Token
from tests.conftest import NOW
from tests.jobs.together import run_together
from tests.support.seed import seed, token
from tests.support.tls_server import TlsServer, make_certificate

DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)  # 4.5 days after NOW: the 7d stage
MAR_1 = datetime(2027, 3, 1, tzinfo=UTC)


@pytest.fixture
def client(slack):
    return make_client("xoxb-test", slack.url)


@pytest.fixture
def server():
    with TlsServer(DEC_1) as running:
        yield running


def source_token(id: str, source: str, expires_at: datetime | None = None, **kw) -> dict:
    return token(id, expires_at, kind="x509", source=source, **kw)


def stored(engine, token_id: str = "cert") -> Token:
    with session_scope(engine) as s:
        return s.get(Token, token_id)


def rows(engine, model) -> list:
    with session_scope(engine) as s:
        return list(s.exec(select(model)).all())


def status_of(engine, now=NOW):
    with session_scope(engine) as s:
        return collect(session=s, now=now)


def replies(slack) -> list:
    return [c for c in slack.calls_to("chat.postMessage") if c.params.get("thread_ts")]


def test_a_certificate_renewed_outside_renewbot_moves_the_expiry_and_answers_in_the_thread_once(
        engine, slack, client, server):
    seed(engine, tokens=[source_token("cert", server.source, name="Shop TLS")], now=NOW)
    first = scan(engine=engine, client=client, now=NOW)
    # The first read sets the expiry, and the same scan plans from it; there was no notice to answer.
    assert first.planned == 1 and len(first.delivery.sent) == 1 and replies(slack) == []
    assert (stored(engine).expires_at, stored(engine).expiry_known) == (DEC_1, True)
    root_ts = slack.messages["C0ALERTS"][0]["ts"]
    version = stored(engine).version

    server.swap(MAR_1)
    later = NOW + timedelta(hours=1)
    scan(engine=engine, client=client, now=later)
    token_row = stored(engine)
    assert token_row.expires_at == MAR_1 and token_row.version == version + 1  # an open form now refuses
    (reply,) = replies(slack)
    assert reply.params["thread_ts"] == root_ts
    assert reply.params["text"] == ("Shop TLS renewed outside renewbot: 2026-12-01 → 2027-03-01, "
                                    f"seen on localhost:{server.port}")
    (edit,) = slack.calls_to("chat.update")
    assert edit.params["ts"] == root_ts and "renewed outside renewbot" in edit.params["text"]
    assert "actions" not in {b["type"] for b in edit.params["blocks"]}  # resolved: no Renew button left
    assert {n.state for n in rows(engine, Notice)} == {"closed"}
    (renewal,) = rows(engine, Renewal)
    assert (renewal.renewed_by, renewal.via, renewal.accounts) == ("renewbot", server.source, [])
    assert (renewal.old_expires_at, renewal.new_expires_at, renewal.renewed_at) == (DEC_1, MAR_1, later)

    # Later scans read the same certificate: nothing more is said or recorded.
    scan(engine=engine, client=client, now=later + timedelta(minutes=15))
    assert len(replies(slack)) == 1 and len(rows(engine, Renewal)) == 1
    assert slack.errors == []


def test_the_audit_names_the_source_not_a_person(engine, slack, client, server):
    seed(engine, tokens=[source_token("cert", server.source)], now=NOW)
    scan(engine=engine, client=client, now=NOW)
    server.swap(MAR_1)
    scan(engine=engine, client=client, now=NOW + timedelta(hours=1))
    with session_scope(engine) as s:
        (entry,) = audit.collect(session=s)
    assert entry.to_json()["via"] == server.source and entry.to_json()["renewed_by"] == "renewbot"
    assert f"seen at {server.source} (outside renewbot)" in audit.render_text([entry])
    assert f"seen at {server.source} (outside renewbot)" in audit.render_csv([entry])


def test_a_self_renewing_certificate_with_no_notice_stays_quiet(engine, slack, client, server):
    server.swap(NOW + timedelta(days=60))
    seed(engine, tokens=[source_token("cert", server.source)], now=NOW)
    scan(engine=engine, client=client, now=NOW)
    server.swap(NOW + timedelta(days=90))
    scan(engine=engine, client=client, now=NOW + timedelta(days=1))
    assert slack.calls_to("chat.postMessage") == [] and slack.calls_to("chat.update") == []
    assert stored(engine).expires_at == NOW + timedelta(days=90)
    assert len(rows(engine, Renewal)) == 1  # recorded all the same


def test_the_expiry_is_unknown_until_the_first_read_with_no_notices(engine, slack, client):
    with TlsServer(DEC_1) as gone:
        source = gone.source
    seed(engine, tokens=[source_token("cert", source), token("dated", NOW + timedelta(days=3))], now=NOW)
    row = stored(engine)
    assert (row.expires_at, row.expiry_known, row.source_checked_at) == (UNKNOWN_EXPIRY, False, None)
    # Planning never picks it up, however late it is asked (its notify_from is out of reach).
    assert plan_notices(engine=engine, now=datetime(2999, 1, 1, tzinfo=UTC)) == 1  # only "dated"
    scan(engine=engine, client=client, now=NOW)  # unreachable: still unknown
    assert {n.token_id for n in rows(engine, Notice)} == {"dated"}
    row = stored(engine)
    assert (row.expiry_known, row.source_error, row.source_checked_at) == (False, "connection refused", NOW)
    (cert,) = [t for t in status_of(engine).tokens if t.id == "cert"]
    data = cert.to_json()
    assert (data["expires_at"], data["days_left"], data["stage"], data["expiry_known"]) == (
        None, None, "unknown", False)
    assert data["source"] == {"url": source, "checked_at": NOW.isoformat(), "error": "connection refused",
                              "subject": None, "issuer": None}
    text = render_text(status_of(engine))
    assert f"expiry unknown (waiting for the first read of {source})" in text
    assert f"{source} at 2026-11-26 12:00 UTC: connection refused" in text
    assert "8999" not in text and "8999" not in json.dumps(status_of(engine).to_json())


def test_an_unreachable_source_keeps_the_last_expiry_and_notices_go_on(engine, slack, client, server):
    seed(engine, tokens=[source_token("cert", server.source)], now=NOW)
    scan(engine=engine, client=client, now=NOW)  # 7d notice
    server.mode = "drop"
    later = NOW + timedelta(days=2)
    scan(engine=engine, client=client, now=later)  # 2.5 days left: the 3d notice, from the last known expiry
    row = stored(engine)
    assert row.expires_at == DEC_1 and row.source_checked_at == later
    assert row.source_error.startswith("TLS handshake failed")
    assert [n.stage for n in rows(engine, Notice)] == ["7d", "3d"]
    assert "TLS handshake failed" in render_text(status_of(engine, later))
    server.mode = "serve"
    scan(engine=engine, client=client, now=later + timedelta(minutes=15))
    assert stored(engine).source_error is None  # a good read clears it
    assert "TLS handshake failed" not in render_text(status_of(engine, later))


def test_subject_and_issuer_of_a_self_signed_certificate_are_recorded(engine, slack, client):
    with TlsServer(DEC_1, common_name="shop.example") as running:
        seed(engine, tokens=[source_token("cert", running.source)], now=NOW)
        scan(engine=engine, client=client, now=NOW)
    source = status_of(engine).tokens[0].to_json()["source"]
    assert source["subject"] == source["issuer"] == "O=renewbot tests,CN=shop.example"
    assert source["error"] is None and stored(engine).expires_at == DEC_1


def test_an_earlier_certificate_keeps_the_stored_expiry_and_warns(engine, slack, client, server):
    server.swap(MAR_1)
    seed(engine, tokens=[source_token("cert", server.source)], now=NOW)
    scan(engine=engine, client=client, now=NOW)
    version = stored(engine).version
    server.swap(DEC_1)
    scan(engine=engine, client=client, now=NOW + timedelta(hours=1))
    row = stored(engine)
    assert (row.expires_at, row.version) == (MAR_1, version)
    assert "expiring 2026-12-01, earlier than the stored expiry 2027-03-01" in render_text(status_of(engine))
    assert rows(engine, Renewal) == [] and rows(engine, Notice) == []


def test_a_date_from_the_file_holds_until_the_source_shows_a_later_one(engine, slack, client, server):
    seed(engine, tokens=[source_token("cert", server.source, NOW + timedelta(days=2))], now=NOW)
    server.mode = "drop"
    scan(engine=engine, client=client, now=NOW)  # not read: the file's date stands, and its 3d notice goes out
    assert stored(engine).expires_at == NOW + timedelta(days=2) and [n.stage for n in rows(engine, Notice)] == ["3d"]
    server.mode = "serve"
    scan(engine=engine, client=client, now=NOW + timedelta(hours=1))  # the certificate says Dec 1
    assert stored(engine).expires_at == DEC_1
    assert [r.new_expires_at for r in rows(engine, Renewal)] == [DEC_1]
    (reply,) = replies(slack)
    assert "2026-11-28 → 2026-12-01" in reply.params["text"]


def test_sni_is_the_host_name_and_none_for_an_ip_literal(server):
    read_certificate("localhost", server.port)
    read_certificate("127.0.0.1", server.port)
    assert server.server_names == ["localhost", None]


def test_a_server_that_never_answers_tls_times_out(engine, slack, client):
    with TlsServer(DEC_1, mode="silent") as silent:
        with pytest.raises(SourceReadError, match=r"^timed out after 0.2 s$"):
            read_certificate("localhost", silent.port, timeout=0.2)
        seed(engine, tokens=[source_token("cert", silent.source)], now=NOW)
        report = refresh_sources(engine=engine, client=client, now=NOW, timeout=0.2)
    assert [a.change for a in report.applied] == [sources.Change.FAILED]
    assert stored(engine).source_error == "timed out after 0.2 s"


def test_retired_tokens_are_not_read(engine, slack, client, server):
    seed(engine, tokens=[source_token("cert", server.source, retired=True)], now=NOW)
    assert refresh_sources(engine=engine, client=client, now=NOW).applied == []
    assert server.connections == 0


def test_two_replicas_record_and_reply_once(engine, slack, server):
    seed(engine, tokens=[source_token("cert", server.source)], now=NOW)
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    server.swap(MAR_1)
    later = NOW + timedelta(hours=1)
    reports = run_together(2, lambda: refresh_sources(engine=engine, client=make_client("xoxb-test", slack.url),
                                                      now=later))
    changes = sorted(a.change for r in reports for a in r.applied)
    assert changes == [sources.Change.RENEWED, sources.Change.SKIPPED] or changes == [
        sources.Change.RENEWED, sources.Change.UNCHANGED]
    assert len(replies(slack)) == 1 and len(rows(engine, Renewal)) == 1 and len(slack.calls_to("chat.update")) == 1


def test_while_slack_refuses_the_bot_token_a_renewal_is_recorded_but_not_told(engine, slack, client, server):
    seed(engine, tokens=[source_token("cert", server.source)], now=NOW)
    scan(engine=engine, client=client, now=NOW)  # the 7d notice: a thread to answer
    server.swap(MAR_1)
    health = SlackHealth()
    health.refuse("invalid_auth")
    scan(engine=engine, client=client, now=NOW + timedelta(hours=1), health=health)
    assert stored(engine).expires_at == MAR_1 and len(rows(engine, Renewal)) == 1
    assert {n.state for n in rows(engine, Notice)} == {"closed"}
    assert replies(slack) == [] and slack.calls_to("chat.update") == []


@pytest.mark.parametrize("meanwhile", [{"source": "tls://elsewhere.example:443"}, {"retired": True}])
def test_a_token_whose_source_changed_or_that_retired_since_listing_is_left_alone(engine, server, meanwhile):
    seed(engine, tokens=[source_token("cert", server.source, DEC_1)], now=NOW)
    with session_scope(engine) as s:
        (listed,) = sources.sources_to_read(session=s)
        before = s.get(Token, "cert").model_dump()
    with session_scope(engine) as s:  # an import between the listing and the read's arrival
        row = s.get(Token, "cert")
        for key, value in meanwhile.items():
            setattr(row, key, value)
        s.add(row)
    with session_scope(engine) as s:
        applied = sources.apply_reading(session=s, token_id="cert", source=listed.source, now=NOW,
                                        reading=sources.Reading(not_after=MAR_1, subject="CN=x", issuer="CN=x"),
                                        kind_ladders={})
    assert applied == sources.Applied("cert", sources.Change.SKIPPED)
    assert stored(engine).model_dump() == {**before, **meanwhile}
    assert rows(engine, Renewal) == []


def test_a_garbled_certificate_is_a_short_error():
    with pytest.raises(SourceReadError, match=r"^the served certificate could not be parsed \(\w+\)$"):
        parse_leaf(b"\x30\x03\x02\x01\x01")


def test_the_leaf_is_read_in_utc():
    pem, _ = make_certificate(MAR_1, common_name="shop.example")
    read = parse_leaf(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER))
    assert read.not_after == MAR_1 and read.not_after.utcoffset() == timedelta(0)
    assert read.subject == "O=renewbot tests,CN=shop.example"


def test_source_messages_name_the_token_and_dates_within_slack_limits():
    long_name = "<!channel> " + "x" * 4000
    text = source_renewed_text(long_name, DEC_1, MAR_1, "tls://shop.example:443")
    assert "2027-03-01" in text and "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert text.endswith("seen on shop.example:443")
    assert "2027-03-01" in source_resolved_text("Shop", DEC_1, MAR_1)
    for blocks in (source_renewed_blocks(long_name, DEC_1, MAR_1, "tls://shop.example:443"),
                   source_resolved_blocks(long_name, DEC_1, MAR_1, "tls://[::1]:8443")):
        for block in blocks:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
            else:
                assert all(len(e["text"]) <= MAX_CONTEXT_TEXT for e in block["elements"])
    assert "[::1]:8443" in source_resolved_blocks("Shop", DEC_1, MAR_1, "tls://[::1]:8443")[0]["text"]["text"]


def test_a_source_down_for_many_scans_is_one_warning_in_the_log(engine, slack, client, caplog):
    with TlsServer(DEC_1) as gone:
        source = gone.source
    seed(engine, tokens=[source_token("cert", source)], now=NOW)
    with caplog.at_level("DEBUG", logger="jobs.sources"):
        for minutes in (0, 15, 30):
            refresh_sources(engine=engine, client=client, now=NOW + timedelta(minutes=minutes))
    warned = [r for r in caplog.records if r.levelname == "WARNING" and "could not read" in r.getMessage()]
    assert len(warned) == 1 and "connection refused" in warned[0].getMessage()
    assert stored(engine).source_checked_at == NOW + timedelta(minutes=30)  # every read is still recorded
