"""The one-time private entry page (SECRET_ENTRY=page), by HTTP: Slack form without a secret -> link -> page -> thread.

Slack is the stand-in, the bot its real HTTP stack (waitress + bolt, signed requests); the page is reached on the
same server, as a browser would.
"""

from __future__ import annotations

import http.client
import logging
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

import pytest
from sqlmodel import select

from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.runtime.config import SecretEntrySettings
from renewbot.runtime.slack_client import make_client
from renewbot.usecases import pending
from storage.db import session_scope
from storage.models import Account, Delivery, PendingRenewal, Renewal, Token
from tests.conftest import NOW
from tests.jobs.test_connect import inventory
from tests.support.bot_server import BotServer, standin_settings
from tests.support.slack_requests import state_values
from tests.test_secrets import raw_database

PUBLIC_URL = "http://127.0.0.1:9"  # what the links say; the test reaches the page on the bot's real port
TOKEN = "amazon-eu-mws"
EXPIRY = "2027-11-26"


@pytest.fixture
def page_deps(deps):
    return replace(deps, entry=SecretEntrySettings(public_url=PUBLIC_URL, secret_entry="page"))


@pytest.fixture
def page_bot(slack, page_deps):
    with BotServer(standin_settings(slack.url), page_deps, slack) as server:
        yield server


@pytest.fixture
def world(engine, slack):
    inventory(engine)  # amazon-uk (disabled), amazon-de (disabled, no fetch); connector commerce-eu; owner U0OWNER
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)  # the notice to answer in
    return engine


def open_form(slack, bot) -> dict:
    assert bot.command(TOKEN)[0] == 200
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    return view


def block_ids(view: dict) -> set:
    return {b.get("block_id") for b in view["blocks"]}


def get_link(slack, bot, view: dict | None = None) -> tuple[str, dict]:
    """Renew -> form -> submit; the path of the one-time link and the view it came in. `view`: a form already open
    (a second identical /renew-token within the same second would be dropped as a replay)."""
    view = view or open_form(slack, bot)
    status, answer = bot.submit(view, state_values(view, {ids.EXPIRY_BLOCK: {"selected_date": EXPIRY},
                                                          "reenable:0": {"selected_options": []}}))
    assert status == 200 and answer["response_action"] == "update"
    (button,) = [e for b in answer["view"]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["url"].startswith(PUBLIC_URL + "/renew/")
    return urlsplit(button["url"]).path, answer["view"]


def request(bot, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    url = urlsplit(bot.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read().decode()
    finally:
        conn.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def post(bot, path: str, fields: dict, **kw):
    body = urlencode(fields).encode()
    return request(bot, "POST", path, body, {"Content-Type": "application/x-www-form-urlencoded", **kw})


def submit_page(bot, path: str, secret: str, *, expiry: str = EXPIRY):
    status, _, html = request(bot, "GET", path)
    assert status == 200
    return post(bot, path, {"csrf": csrf_of(html), "secret": secret, "expiry": expiry})


def state(engine) -> tuple:
    with session_scope(engine) as s:
        tok = s.get(Token, TOKEN)
        return (tok.version, tok.expires_at, tok.secret_encrypted,
                tuple((a.id, a.enabled, a.fetch_orders) for a in s.exec(select(Account).order_by(Account.id))),
                len(s.exec(select(Renewal)).all()), len(s.exec(select(Delivery)).all()))


def new_secret() -> str:
    return f"amzn.mws.{uuid.uuid4()}"


def test_the_form_has_no_secret_field_and_submitting_it_gives_a_one_time_link(world, slack, page_bot):
    view = open_form(slack, page_bot)
    assert ids.SECRET_BLOCK not in block_ids(view) and ids.EXPIRY_BLOCK in block_ids(view)
    assert "reenable:0" in block_ids(view) and view["submit"]["text"] == "Continue"
    before = state(world)
    path, link_view = get_link(slack, page_bot, view)
    text = str(link_view["blocks"])
    assert "10 minutes" in text and "for you only" in text.lower() and "Nothing is saved" in text
    assert path in text  # the link as text too, for copying
    key = path.removeprefix("/renew/")
    with session_scope(world) as s:
        (row,) = s.exec(select(PendingRenewal)).all()
    assert row.key_hash == pending.key_hash(key) and key not in str(row.model_dump())
    assert (row.kind, row.user_id, row.token_version, row.used_at) == ("page", "U0OWNER", 1, None)
    assert row.choices["expiry"] == EXPIRY and row.choices["reenable"] == []
    assert state(world) == before  # nothing renewed until the page is submitted


def test_the_form_is_checked_before_any_link_is_made(world, slack, page_bot):
    view = open_form(slack, page_bot)
    _, answer = page_bot.submit(view, state_values(view, {ids.EXPIRY_BLOCK: {"selected_date": "2026-11-27"}}))
    assert answer["response_action"] == "errors" and "later than the current one" in answer["errors"]["expiry"]
    with session_scope(world) as s:
        assert s.exec(select(PendingRenewal)).all() == []


def test_get_shows_the_form_with_strict_headers_and_does_not_consume_the_link(world, slack, page_bot):
    path, _ = get_link(slack, page_bot)
    for _ in range(2):  # a link preview, then the person
        status, headers, html = request(page_bot, "GET", path)
        assert status == 200
    assert headers["Cache-Control"] == "no-store" and headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer" and headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert "script" not in csp and "unsafe" not in csp
    assert "Amazon EU MWS token" in html and 'name="secret"' in html and f'value="{EXPIRY}"' in html
    assert not re.search(r"<script|<link|<img|src=|href=|https?://", html)  # no script, no external asset


def test_post_without_or_with_a_wrong_form_token_is_refused(world, slack, page_bot):
    path, _ = get_link(slack, page_bot)
    before = state(world)
    for fields in ({"secret": new_secret(), "expiry": EXPIRY},
                   {"csrf": "0" * 64, "secret": new_secret(), "expiry": EXPIRY}):
        status, headers, _ = post(page_bot, path, fields)
        assert status == 403 and headers["Cache-Control"] == "no-store"
    assert state(world) == before
    assert request(page_bot, "GET", path)[0] == 200


def test_a_bad_secret_is_shown_on_the_page_and_the_link_still_works(world, slack, page_bot):
    path, _ = get_link(slack, page_bot)
    before = state(world)
    wrong = "Atzr|" + uuid.uuid4().hex
    status, headers, html = submit_page(page_bot, path, wrong)
    assert status == 422 and headers["Content-Security-Policy"]
    assert 'id="secret-error"' in html and "amzn.mws." in html  # the kind's own message, next to the field
    assert uuid.UUID(wrong[5:]).hex not in html  # never written back
    status, _, html = submit_page(page_bot, path, new_secret(), expiry="2026-11-27")
    assert status == 422 and 'id="expiry-error"' in html and 'value="2026-11-27"' in html
    assert state(world) == before
    assert submit_page(page_bot, path, new_secret())[0] == 200


def test_success_renews_in_one_transaction_confirms_in_the_thread_and_kills_the_link(world, slack, page_bot,
                                                                                   page_deps):
    notice = slack.messages["C0ALERTS"][0]
    path, _ = get_link(slack, page_bot)
    secret = new_secret()
    status, headers, html = submit_page(page_bot, path, secret)
    assert status == 200 and "Renewed: you can close this tab" in html and headers["Cache-Control"] == "no-store"
    with session_scope(world) as s:
        tok = s.get(Token, TOKEN)
        assert page_deps.box.decrypt(tok.secret_encrypted) == secret
        assert tok.expires_at == datetime(2027, 11, 26, tzinfo=UTC) and tok.version == 2
        # re-enable unticked: both stay disabled; amazon-de keeps "don't fetch"
        assert {a.id: (a.enabled, a.fetch_orders) for a in s.exec(select(Account))} == {
            "amazon-uk": (False, True), "amazon-de": (False, False)}
        (renewal,) = s.exec(select(Renewal)).all()
        assert (renewal.via, renewal.renewed_by) == ("page", "U0OWNER")
        assert [d.renewal_id for d in s.exec(select(Delivery))] == [renewal.id]
        assert s.exec(select(PendingRenewal)).one().used_at is not None
    reply = slack.wait_for("chat.postMessage", 2)[-1]  # after the notice itself
    assert reply.params["thread_ts"] == notice["ts"]
    assert "private page" in reply.params["text"] and "<@U0OWNER>" in reply.params["text"]
    slack.wait_for("chat.update")  # the notice edited to its resolved state
    assert request(page_bot, "GET", path)[0] == 410
    assert post(page_bot, path, {"csrf": "x", "secret": new_secret()})[0] == 410


def test_expired_and_unknown_links(world, slack, page_bot, clock):
    path, _ = get_link(slack, page_bot)
    status, _, html = request(page_bot, "GET", path)
    csrf = csrf_of(html)
    assert request(page_bot, "GET", "/renew/" + "A" * 43)[0] == 404
    assert request(page_bot, "GET", "/renew/../../etc/passwd")[0] == 404
    clock.now = NOW + timedelta(minutes=10, seconds=1)
    before = state(world)
    status, headers, _ = request(page_bot, "GET", path)
    assert status == 410 and headers["Cache-Control"] == "no-store"
    assert post(page_bot, path, {"csrf": csrf, "secret": new_secret(), "expiry": EXPIRY})[0] == 410
    assert state(world) == before


def test_ownership_removed_before_the_page_is_submitted_is_refused(world, slack, page_bot):
    path, _ = get_link(slack, page_bot)
    with session_scope(world) as s:
        s.get(Token, TOKEN).owners = ["U0SOMEONE"]
    before = state(world)
    status, _, html = submit_page(page_bot, path, new_secret())
    assert status == 403 and "no longer one of" in html
    assert state(world) == before and request(page_bot, "GET", path)[0] == 200  # not consumed
    assert len(slack.calls_to("chat.postMessage")) == 1  # the notice; no confirmation


def test_a_link_for_a_token_that_moved_on_shows_409_not_a_form(world, slack, page_bot):
    path, _ = get_link(slack, page_bot)
    status, _, html = request(page_bot, "GET", path)
    csrf = csrf_of(html)
    with session_scope(world) as s:  # renewed another way meanwhile
        s.get(Token, TOKEN).version += 1
    before = state(world)
    status, headers, html = request(page_bot, "GET", path)
    assert status == 409 and "Renewed meanwhile" in html and 'name="secret"' not in html
    assert headers["Cache-Control"] == "no-store" and headers["X-Frame-Options"] == "DENY"
    assert post(page_bot, path, {"csrf": csrf, "secret": new_secret(), "expiry": EXPIRY})[0] == 409
    assert state(world) == before


def test_a_failed_confirmation_after_the_commit_still_says_renewed(world, slack, page_bot, monkeypatch):
    from renewbot.runtime import secret_page

    def broken(*_, **__):
        raise RuntimeError("slack is down")

    monkeypatch.setattr(secret_page, "announce", broken)
    path, _ = get_link(slack, page_bot)
    status, _, html = submit_page(page_bot, path, new_secret())
    assert status == 200 and "Renewed: you can close this tab" in html and "nothing was changed" not in html


def test_bodies_are_bounded_and_must_be_a_form(world, slack, page_bot):
    path, _ = get_link(slack, page_bot)
    huge = b"secret=" + b"a" * 40_000
    assert request(page_bot, "POST", path, huge,
                   {"Content-Type": "application/x-www-form-urlencoded"})[0] == 413
    assert request(page_bot, "POST", path, b'{"secret": "x"}', {"Content-Type": "application/json"})[0] == 415
    assert request(page_bot, "PUT", path, b"")[0] == 405


def test_a_self_authorized_sp_api_token_uses_the_page(engine, slack, page_bot):
    from tests.support.seed import seed, token
    seed(engine, now=NOW, tokens=[token("sp", NOW + timedelta(days=3), kind="amazon-sp-api", owners=["U0OWNER"])])
    page_bot.command("sp")
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    assert ids.SECRET_BLOCK not in block_ids(view)
    _, answer = page_bot.submit(view, state_values(view))
    assert answer["view"]["callback_id"] == ids.SECRET_LINK_VIEW


def test_modal_mode_keeps_the_secret_field_and_serves_no_page(world, slack, bot):
    view = open_form(slack, bot)  # the default deps: no PUBLIC_URL, SECRET_ENTRY=modal
    assert ids.SECRET_BLOCK in block_ids(view) and view["submit"]["text"] == "Renew"
    assert request(bot, "GET", "/renew/" + "A" * 43)[0] == 404


def test_planted_secret_and_link_are_nowhere_in_plain_text(world, db_url, slack, page_bot, page_deps, caplog):
    caplog.set_level(logging.DEBUG)
    path, _ = get_link(slack, page_bot)
    key = path.removeprefix("/renew/")
    secret = new_secret()
    assert submit_page(page_bot, path, secret + " extra")[0] == 422  # refused once, then accepted
    assert submit_page(page_bot, path, secret)[0] == 200
    slack.wait_for("chat.update")
    request(page_bot, "GET", path)  # a dead link's answer logs nothing of it either
    with session_scope(world) as s:
        stored = s.get(Token, TOKEN).secret_encrypted
    assert page_deps.box.decrypt(stored) == secret
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "renewed by U0OWNER on the private page" in logged
    assert secret not in logged and secret[9:] not in logged and key not in logged
    assert all(secret[9:] not in str(c.params) for c in slack.calls)
    raw = raw_database(db_url, world)
    assert stored.encode() in raw and secret[9:].encode() not in raw and key.encode() not in raw
