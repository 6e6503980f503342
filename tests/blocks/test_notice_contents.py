"""The notice's exact contents: header, icon and verb by stage, kind label, fields, flags, footer.

test_builders.py checks shape and limits; these pin what a reader actually sees, so a changed
word, flag or number fails a test (see docs/mutation.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from renewbot.blocks import ids
from renewbot.blocks.notice import (
    kind_label,
    notice_blocks,
    notice_text,
    resolved_blocks,
    resolved_text,
    settings_url,
)
from renewbot.domain.kinds import BUILTIN_KINDS
from storage.models import Account, Token

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EXPIRES = datetime(2026, 12, 1, tzinfo=UTC)  # 4.5 days after NOW
EXPIRED = datetime(2026, 11, 20, tzinfo=UTC)  # 6.5 days before NOW
NEW_EXPIRY = datetime(2027, 12, 1, tzinfo=UTC)


def slack_date(moment: datetime) -> str:
    return f"<!date^{int(moment.timestamp())}^{{date_long_pretty}} at {{time}}|{moment:%Y-%m-%d %H:%M} UTC>"


def token(kind: str = "amazon-mws", *, name: str = "Amazon EU MWS token", tid: str = "amazon-eu-mws",
          expires_at: datetime = EXPIRES) -> Token:
    return Token(id=tid, kind=kind, name=name, expires_at=expires_at, notify_from=expires_at - timedelta(days=30),
                 channel="C0123ALERTS", owners=["U0123OWNER"], app_id=None, version=1)


def account(i: int, *, enabled: bool, url: bool = True, name: str | None = None) -> Account:
    return Account(id=f"amazon-{i}", name=name or f"Amazon {i}", enabled=enabled, fetch_orders=True,
                   settings_url=f"https://commerce.example/accounts/amazon-{i}" if url else None)


def fields(blocks: list[dict]) -> dict[str, str]:
    """The section's fields as {title: value}, from "*Title*\\nvalue"."""
    out = {}
    for f in blocks[1]["fields"]:
        assert f["type"] == "mrkdwn"
        title, value = f["text"].split("\n", 1)
        assert title.startswith("*") and title.endswith("*")
        out[title.strip("*")] = value
    return out


# --- the whole notice, exactly -----------------------------------------------------------------

def test_a_notice_before_expiry_reads_exactly():
    blocks = notice_blocks(token(), [account(1, enabled=False), account(2, enabled=True, url=False)], "7d", NOW)
    assert [b["type"] for b in blocks] == ["header", "section", "actions", "context"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "Amazon EU MWS token: 4 days left", "emoji": True}
    assert blocks[1]["text"] == {"type": "mrkdwn", "text": (
        ":hourglass_flowing_sand: *Amazon EU MWS token* (Amazon MWS auth token (legacy)) "
        f"expires {slack_date(EXPIRES)}.")}
    assert fields(blocks) == {
        "Token id": "`amazon-eu-mws`",
        "Days left": "4",
        "Accounts": "<https://commerce.example/accounts/amazon-1|Amazon 1> (off), Amazon 2 (on)",
        "Expiry date": "2026-12-01",
    }
    assert list(fields(blocks)) == ["Token id", "Days left", "Accounts", "Expiry date"]
    assert blocks[3] == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "renewbot · 7d notice · renewing also re-enables the accounts above"}]}


def test_an_expired_notice_uses_the_alarm_icon_past_tense_and_zero_days_left():
    blocks = notice_blocks(token(expires_at=EXPIRED), [account(1, enabled=True)], "expired", NOW)
    assert blocks[0]["text"]["text"] == "Amazon EU MWS token has expired"
    assert blocks[1]["text"]["text"] == (
        f":rotating_light: *Amazon EU MWS token* (Amazon MWS auth token (legacy)) expired {slack_date(EXPIRED)}.")
    assert fields(blocks)["Days left"] == "0"  # never negative: max(0, days_left)
    assert fields(blocks)["Expiry date"] == "2026-11-20"
    assert blocks[3]["elements"][0]["text"] == "renewbot · expired notice · renewing also re-enables the accounts above"


@pytest.mark.parametrize("expires_at, days", [
    (NOW + timedelta(days=30), "30"),
    (NOW + timedelta(days=1), "1"),
    (NOW + timedelta(hours=23), "0"),  # less than a day: whole days only
    (NOW - timedelta(hours=1), "0"),
    (NOW - timedelta(days=3), "0"),
])
def test_days_left_field_counts_whole_days_and_never_goes_below_zero(expires_at, days):
    stage = "expired" if expires_at <= NOW else "1d"
    assert fields(notice_blocks(token(expires_at=expires_at), [], stage, NOW))["Days left"] == days


@pytest.mark.parametrize("stage", ["30d", "14d", "7d", "3d", "1d"])
def test_every_stage_before_expiry_uses_the_hourglass_and_present_tense(stage):
    blocks = notice_blocks(token(), [], stage, NOW)
    text = blocks[1]["text"]["text"]
    assert text.startswith(":hourglass_flowing_sand: *") and " expires <!date^" in text
    assert ":rotating_light:" not in text and " expired " not in text
    assert blocks[0]["text"]["text"] == "Amazon EU MWS token: 4 days left"
    assert blocks[3]["elements"][0]["text"].startswith(f"renewbot · {stage} notice · ")


def test_header_for_a_token_expiring_within_a_day():
    blocks = notice_blocks(token(expires_at=NOW + timedelta(hours=5)), [], "1d", NOW)
    assert blocks[0]["text"]["text"] == "Amazon EU MWS token: expires in less than a day"


@pytest.mark.parametrize("kind, label", [
    ("amazon-mws", "Amazon MWS auth token (legacy)"),
    ("amazon-lwa-client-secret", "Amazon LWA client secret"),
    ("amazon-sp-api", "Amazon SP-API authorization"),
    ("generic", "credential"),
    ("shipping-api-key", "shipping-api-key"),  # an unknown kind is shown as it is
])
def test_the_kind_label_in_the_notice(kind, label):
    assert kind_label(kind) == label
    text = notice_blocks(token(kind), [], "7d", NOW)[1]["text"]["text"]
    assert f"* ({label}) expires " in text


def test_every_builtin_kind_has_a_label_of_its_own():
    labels = [kind_label(k) for k in BUILTIN_KINDS]
    assert set(BUILTIN_KINDS) == {"amazon-sp-api", "amazon-lwa-client-secret", "amazon-mws", "generic", "jwt", "x509"}
    assert len(set(labels)) == len(labels) and all(labels)


# --- accounts field ----------------------------------------------------------------------------

def test_no_accounts_reads_none_listed():
    assert fields(notice_blocks(token(), [], "7d", NOW))["Accounts"] == "none listed"


@pytest.mark.parametrize("enabled, flag", [(True, "on"), (False, "off")])
def test_each_account_shows_its_on_off_flag(enabled, flag):
    accounts = [account(1, enabled=enabled, url=False)]
    assert fields(notice_blocks(token(), accounts, "7d", NOW))["Accounts"] == f"Amazon 1 ({flag})"


def test_accounts_are_linked_escaped_and_in_order():
    accounts = [account(2, enabled=True, name="B&B <shop>"), account(1, enabled=False, url=False)]
    assert fields(notice_blocks(token(), accounts, "7d", NOW))["Accounts"] == (
        "<https://commerce.example/accounts/amazon-2|B&amp;B &lt;shop&gt;> (on), Amazon 1 (off)")


def test_a_long_accounts_list_is_clipped_below_the_field_limit():
    accounts = [account(i, enabled=True) for i in range(200)]
    value = fields(notice_blocks(token(), accounts, "7d", NOW))["Accounts"]
    assert len(value) == 2000 - 20  # room left for "*Accounts*\n"
    assert value.endswith("…")


def test_settings_url_is_the_first_account_that_has_one():
    accounts = [account(1, enabled=True, url=False), account(2, enabled=True), account(3, enabled=True)]
    assert settings_url(accounts) == "https://commerce.example/accounts/amazon-2"
    assert settings_url([account(1, enabled=True, url=False)]) is None
    assert settings_url([]) is None


# --- names and ids are clipped, at these lengths ------------------------------------------------

def test_a_long_token_name_is_clipped_to_500_in_the_section_and_the_header_to_150():
    name = "n" * 600
    blocks = notice_blocks(token(name=name), [], "7d", NOW)
    assert blocks[1]["text"]["text"].startswith(":hourglass_flowing_sand: *" + "n" * 499 + "…* (")
    assert blocks[0]["text"]["text"] == "n" * 149 + "…"


def test_a_long_token_id_is_clipped_to_200_in_its_field():
    tid = "i" * 300
    blocks = notice_blocks(token(tid=tid), [], "7d", NOW)
    assert fields(blocks)["Token id"] == "`" + "i" * 199 + "…`"
    renew = next(b for b in blocks[2]["elements"] if b["action_id"] == ids.RENEW_BUTTON)
    assert renew["value"] == tid  # the button carries the whole id


# --- buttons -----------------------------------------------------------------------------------

def test_buttons_renew_is_primary_steps_is_plain_settings_links_out():
    blocks = notice_blocks(token(), [account(1, enabled=False)], "7d", NOW)
    assert blocks[2]["block_id"] == ids.NOTICE_ACTIONS_BLOCK
    renew, steps, settings = blocks[2]["elements"][:3]  # then the attention controls (test_attention_blocks.py)
    assert renew == {"type": "button", "text": {"type": "plain_text", "text": "Renew", "emoji": True},
                     "action_id": ids.RENEW_BUTTON, "value": "amazon-eu-mws", "style": "primary"}
    assert steps == {"type": "button", "text": {"type": "plain_text", "text": "Renewal steps", "emoji": True},
                     "action_id": ids.STEPS_BUTTON, "value": "amazon-eu-mws"}
    assert settings == {"type": "button", "text": {"type": "plain_text", "text": "Open settings", "emoji": True},
                        "action_id": ids.SETTINGS_BUTTON, "value": "amazon-eu-mws",
                        "url": "https://commerce.example/accounts/amazon-1"}


# --- fallback texts and the resolved message -----------------------------------------------------

def test_notice_text_exactly():
    assert notice_text(token(), "3d", NOW) == "Amazon EU MWS token (amazon-mws) expires on 2026-12-01: 4 days left"
    assert notice_text(token(expires_at=EXPIRED), "expired", NOW) == (
        "Amazon EU MWS token (amazon-mws) expired on 2026-11-20: renew it now")
    assert notice_text(token(name="A<b>"), "3d", NOW).startswith("A&lt;b&gt; (amazon-mws) expires on ")


def test_resolved_message_exactly():
    blocks = resolved_blocks("Amazon <EU>", "U0RENEWER", EXPIRES, NEW_EXPIRY)
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            ":white_check_mark: *Amazon &lt;EU&gt;* was renewed by <@U0RENEWER>: "
            f"expiry 2026-12-01 → 2027-12-01 ({slack_date(NEW_EXPIRY)}).")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "renewbot · resolved · details in the thread"}]},
    ]
    assert resolved_blocks("r" * 600, "U0", EXPIRES, NEW_EXPIRY)[0]["text"]["text"].startswith(
        ":white_check_mark: *" + "r" * 499 + "…* was renewed")
    assert resolved_text("Amazon <EU>", EXPIRES, NEW_EXPIRY) == (
        "Amazon &lt;EU&gt; renewed: expiry 2026-12-01 → 2027-12-01")
