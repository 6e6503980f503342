"""The whole loop over real HTTP: scan -> notice -> Renew -> modal -> bad submit -> good submit -> thread."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlmodel import select

from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.runtime.slack_client import make_client
from storage.db import session_scope
from storage.models import Account, Notice, Renewal, Token
from tests.conftest import NOW
from tests.support.bot_server import settle
from tests.support.seed import account, seed, token
from tests.support.slack_requests import state_values

NEW_SECRET = f"amzn.mws.{uuid.uuid4()}"


def seed_mws(engine):
    # As after a renewal on the provider's side: both accounts switched off; DE must keep "don't fetch".
    seed(engine, now=NOW,
         accounts=[account("amazon-uk", name="Amazon UK", enabled=False, fetch_orders=True,
                           settings_url="https://commerce.example/configuration/selling/amazon/accounts/amazon-uk"),
                   account("amazon-de", name="Amazon DE", enabled=False, fetch_orders=False)],
         tokens=[token("amazon-eu-mws", NOW + timedelta(days=5), name="Amazon EU MWS token",
                       accounts=["amazon-uk", "amazon-de"], owners=["U0OWNER"], app_id="532089569783")])


def snapshot(engine) -> dict:
    with session_scope(engine) as s:
        return {
            "tokens": [t.model_dump() for t in s.exec(select(Token)).all()],
            "accounts": [a.model_dump() for a in s.exec(select(Account).order_by(Account.id)).all()],
            "notices": [(n.id, n.state) for n in s.exec(select(Notice)).all()],
            "renewals": len(s.exec(select(Renewal)).all()),
        }


def test_whole_loop(engine, slack, bot, deps, db_url):
    seed_mws(engine)
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    notice = slack.messages["C0ALERTS"][0]
    assert "Amazon EU MWS token" in notice["text"] and "2026-12-01" in notice["text"]

    # Renew button -> modal, within the same request cycle
    assert bot.click(ids.RENEW_BUTTON, "amazon-eu-mws", message=notice) == 200
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    assert view["callback_id"] == ids.RENEW_MODAL
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks[ids.TOKEN_BLOCK]["element"]["initial_option"]["value"] == "amazon-eu-mws"
    assert blocks[ids.EXPIRY_BLOCK]["element"]["initial_date"] == "2027-11-26"
    assert [o["value"] for o in blocks["reenable:0"]["element"]["initial_options"]] == ["amazon-uk", "amazon-de"]
    assert [o["value"] for o in blocks["nofetch:0"]["element"]["initial_options"]] == ["amazon-de"]

    # An invalid submission: inline errors on both fields, nothing changed
    before = snapshot(engine)
    status, answer = bot.submit(view, state_values(view, {
        ids.SECRET_BLOCK: {"value": "amzn.mws.not-a-uuid"},
        ids.EXPIRY_BLOCK: {"selected_date": "2026-11-01"},
    }))
    assert status == 200 and answer["response_action"] == "errors"
    assert set(answer["errors"]) == {ids.SECRET_BLOCK, ids.EXPIRY_BLOCK}
    assert snapshot(engine) == before

    # A valid submission with the defaults left alone
    status, answer = bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": NEW_SECRET}}))
    assert status == 200 and answer is None
    posts = slack.wait_for("chat.postMessage", count=2)
    reply = posts[1].params
    assert reply["thread_ts"] == notice["ts"]
    assert "2026-12-01 → 2027-11-26" in reply["text"] and "<@U0OWNER>" in reply["text"]
    assert "Amazon UK" in reply["text"] and "Amazon DE" in reply["text"]
    reply_text = str(reply["blocks"])
    assert "Amazon DE (enabled, don't fetch orders)" in reply_text
    assert "Amazon UK (enabled, fetching orders)" in reply_text
    (update,) = slack.wait_for("chat.update")
    assert update.params["ts"] == notice["ts"]
    assert all(b["type"] != "actions" for b in update.params["blocks"])
    assert "2027-11-26" in update.params["text"]

    with session_scope(engine) as s:
        accounts = {a.id: a for a in s.exec(select(Account)).all()}
        assert accounts["amazon-uk"].enabled and accounts["amazon-uk"].fetch_orders
        assert accounts["amazon-de"].enabled and not accounts["amazon-de"].fetch_orders
        tok = s.get(Token, "amazon-eu-mws")
        assert tok.expires_at.isoformat() == "2027-11-26T00:00:00+00:00"
        assert tok.secret_encrypted and NEW_SECRET not in tok.secret_encrypted
        assert deps.box.decrypt(tok.secret_encrypted) == NEW_SECRET
        (renewal,) = s.exec(select(Renewal)).all()
        assert renewal.renewed_by == "U0OWNER" and renewal.old_expires_at == NOW + timedelta(days=5)
        assert {a["id"]: (a["reenabled"], a["fetch_orders"]) for a in renewal.accounts} == {
            "amazon-uk": (True, True), "amazon-de": (True, False)}
        assert {n.state for n in s.exec(select(Notice)).all()} == {"closed"}

    # The secret is nowhere in plain text: not in any Slack call, not in the database file
    assert all(NEW_SECRET not in str(c.params) for c in slack.calls if c.method != "views.open")
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        engine.dispose()
        files = [Path(url.database), Path(url.database + "-wal")]
        raw = b"".join(f.read_bytes() for f in files if f.exists())
        assert len(raw) > 0 and NEW_SECRET.encode() not in raw

    # Submitting the same form again (a double click) is refused and changes nothing
    again = snapshot(engine)
    status, answer = bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": f"amzn.mws.{uuid.uuid4()}"}}))
    assert answer["response_action"] == "errors"
    assert snapshot(engine) == again
    settle()
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_renewal_steps_button_posts_the_runbook_in_the_thread(engine, slack, bot):
    seed_mws(engine)
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    notice = slack.messages["C0ALERTS"][0]
    assert bot.click(ids.STEPS_BUTTON, "amazon-eu-mws", message=notice, user="U0ANYONE") == 200
    steps = slack.wait_for("chat.postMessage", count=2)[1].params
    assert steps["thread_ts"] == notice["ts"]
    body = str(steps["blocks"])
    assert "532089569783" in body and "Log out of every Amazon seller account" in body
    assert "Amazon EU MWS token" in steps["text"] and "2026-12-01" in steps["text"]


def test_open_settings_link_is_acknowledged(engine, slack, bot):
    seed_mws(engine)
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    notice = slack.messages["C0ALERTS"][0]
    (actions,) = [b for b in notice["blocks"] if b["type"] == "actions"]
    link = next(e for e in actions["elements"] if e["action_id"] == ids.SETTINGS_BUTTON)
    assert link["url"].endswith("/amazon-uk")
    assert bot.click(ids.SETTINGS_BUTTON, "amazon-eu-mws", message=notice) == 200


def test_renewal_without_open_notice_confirms_in_the_tokens_channel(engine, slack, bot):
    seed_mws(engine)
    status, _ = bot.command("amazon-eu-mws")
    assert status == 200
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": NEW_SECRET}}))
    (post,) = slack.wait_for("chat.postMessage")
    assert post.params["channel"] == "C0ALERTS" and not post.params.get("thread_ts")
    assert "2026-12-01 → 2027-11-26" in post.params["text"]
