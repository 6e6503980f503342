"""The attention controls on a notice, its attention line and the mute form: pure builders, no server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from renewbot.blocks import ids
from renewbot.blocks.attention import (
    attention_block,
    attention_controls,
    mute_modal,
    notice_ref_value,
    snooze_select,
)
from renewbot.blocks.notice import notice_blocks, notice_button_labels
from renewbot.usecases.attention import Attention, MuteRejected, snooze_choices, validate_mute
from storage.models import Token
from tests.blocks.test_builders import check_message, check_modal

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def token(expires_at: datetime, *, name: str = "EU <token>") -> Token:
    return Token(id="eu-mws", kind="amazon-mws", name=name, expires_at=expires_at,
                 notify_from=expires_at - timedelta(days=30), channel="C0ALERTS", owners=["U0OWNER"], version=1)


def actions(blocks: list[dict]) -> list[dict]:
    (block,) = [b for b in blocks if b["type"] == "actions"]
    return block["elements"]


def by_action(elements: list[dict]) -> dict[str, dict]:
    return {e["action_id"]: e for e in elements}


# --- snooze: never past the expiry ----------------------------------------------------------------

@pytest.mark.parametrize("left, offered", [
    (timedelta(days=30), [1, 3, 7]),
    (timedelta(days=7, minutes=1), [1, 3, 7]),
    (timedelta(days=7), [1, 3]),  # a week would end exactly at the expiry: not offered
    (timedelta(days=3, hours=1), [1, 3]),
    (timedelta(days=2), [1]),
    (timedelta(days=1, seconds=1), [1]),
    (timedelta(days=1), []),
    (timedelta(hours=5), []),
    (-timedelta(days=2), []),
])
def test_snooze_choices_end_before_the_expiry(left, offered):
    assert snooze_choices(NOW, NOW + left) == offered


def test_snooze_options_name_the_notice_and_never_land_past_the_expiry():
    t = token(NOW + timedelta(days=4))
    select = snooze_select(t, "7d", NOW)
    assert select["type"] == "static_select" and select["action_id"] == ids.SNOOZE_SELECT
    assert select["placeholder"]["text"] == "Snooze"
    assert [o["text"]["text"] for o in select["options"]] == ["1 day", "3 days"]
    values = [json.loads(o["value"]) for o in select["options"]]
    assert values == [{"d": 1, "e": t.expires_at.isoformat(), "s": "7d"},
                      {"d": 3, "e": t.expires_at.isoformat(), "s": "7d"}]
    for value in values:
        assert NOW + timedelta(days=value["d"]) < t.expires_at


def test_no_snooze_control_at_all_with_less_than_a_day_left():
    t = token(NOW + timedelta(hours=20))
    assert snooze_select(t, "1d", NOW) is None
    assert ids.SNOOZE_SELECT not in by_action(attention_controls(t, "1d", NOW, None))
    expired = token(NOW - timedelta(days=1))
    assert ids.SNOOZE_SELECT not in by_action(actions(notice_blocks(expired, [], "expired", NOW)))


# --- the buttons, by state ------------------------------------------------------------------------

def test_a_fresh_notice_offers_renew_steps_then_on_it_snooze_and_mute():
    t = token(NOW + timedelta(days=10))
    blocks = notice_blocks(t, [], "14d", NOW)
    check_message(blocks)
    elements = actions(blocks)
    assert [e["action_id"] for e in elements] == [ids.RENEW_BUTTON, ids.STEPS_BUTTON, ids.ACK_BUTTON,
                                                  ids.SNOOZE_SELECT, ids.MUTE_BUTTON]
    ack = by_action(elements)[ids.ACK_BUTTON]
    assert ack["text"]["text"] == "I'm on it"
    assert json.loads(ack["value"]) == {"t": "eu-mws", "e": t.expires_at.isoformat(), "s": "14d"}
    assert by_action(elements)[ids.MUTE_BUTTON]["value"] == ack["value"] == notice_ref_value(t, "14d")
    assert not [b for b in blocks if b["type"] == "context" and "on it" in str(b)]  # no attention line yet


def test_acknowledged_drops_its_button_and_says_who_and_since_when():
    t = token(NOW + timedelta(days=10))
    attention = Attention(acked_by="U0ACK", acked_at=NOW)
    blocks = notice_blocks(t, [], "14d", NOW, attention=attention)
    check_message(blocks)
    assert ids.ACK_BUTTON not in by_action(actions(blocks))
    assert {ids.RENEW_BUTTON, ids.SNOOZE_SELECT, ids.MUTE_BUTTON} <= set(by_action(actions(blocks)))
    line = attention_block(attention)
    assert line in blocks and blocks.index(line) == blocks.index(next(b for b in blocks if b["type"] == "actions")) - 1
    assert line["elements"][0]["text"] == (
        f":raised_hand: <@U0ACK> is on it since <!date^{int(NOW.timestamp())}^{{date_long_pretty}} at {{time}}"
        "|2026-11-26 12:00 UTC>")


def test_snoozed_says_until_when_and_by_whom():
    until = NOW + timedelta(days=3)
    line = attention_block(Attention(snoozed_until=until, snoozed_by="U0SNZ"))
    assert line["elements"][0]["text"] == (
        f":zzz: snoozed until <!date^{int(until.timestamp())}^{{date_long_pretty}} at {{time}}"
        "|2026-11-29 12:00 UTC> by <@U0SNZ>")


def test_muted_keeps_only_renew_and_unmute_and_shows_the_reason_escaped():
    t = token(NOW + timedelta(days=10))
    attention = Attention(muted_by="U0MUTE", muted_at=NOW, mute_reason="other: <!channel> moved to vault")
    blocks = notice_blocks(t, [], "14d", NOW, attention=attention)
    check_message(blocks)
    assert [e["action_id"] for e in actions(blocks)] == [ids.RENEW_BUTTON, ids.UNMUTE_BUTTON]
    (text,) = [e["text"] for e in attention_block(attention)["elements"]]
    assert text == (f":no_bell: muted by <@U0MUTE> since <!date^{int(NOW.timestamp())}^{{date_long_pretty}} at "
                    "{time}|2026-11-26 12:00 UTC>: other: &lt;!channel&gt; moved to vault. "
                    "No notices until its expiry changes.")


def test_a_mute_of_unknown_date_says_no_since():
    (text,) = [e["text"] for e in attention_block(Attention(muted_by="U0MUTE"))["elements"]]
    assert text == ":no_bell: muted by <@U0MUTE>. No notices until its expiry changes."


def test_no_attention_means_no_line():
    assert attention_block(None) is None and attention_block(Attention()) is None


def test_dry_run_labels_include_the_attention_controls():
    t = token(NOW + timedelta(days=10))
    assert notice_button_labels(t, [], "14d", NOW) == ["Renew", "Renewal steps", "I'm on it", "Snooze", "Mute"]
    assert notice_button_labels(t, []) == ["Renew", "Renewal steps"]


# --- the mute form ---------------------------------------------------------------------------------

def test_mute_modal_has_the_three_reasons_and_an_optional_text_of_300():
    t = token(NOW + timedelta(days=10))
    view = mute_modal(t, "14d")
    check_modal(view)
    assert view["callback_id"] == ids.MUTE_MODAL
    reason = next(b for b in view["blocks"] if b.get("block_id") == ids.MUTE_REASON_BLOCK)
    assert reason["element"]["type"] == "radio_buttons" and reason["element"]["action_id"] == ids.MUTE_REASON_INPUT
    assert [(o["value"], o["text"]["text"]) for o in reason["element"]["options"]] == [
        ("retired", "Retired"), ("elsewhere", "Handled elsewhere"), ("other", "Other")]
    text = next(b for b in view["blocks"] if b.get("block_id") == ids.MUTE_TEXT_BLOCK)
    assert text["optional"] is True and text["element"]["max_length"] == 300
    # The notice it was opened from, as the Mute button names it: nothing else is needed after the submission.
    assert view["private_metadata"] == notice_ref_value(t, "14d")
    assert json.loads(view["private_metadata"]) == {"t": "eu-mws", "e": t.expires_at.isoformat(), "s": "14d"}
    assert "EU &lt;token&gt;" in view["blocks"][0]["text"]["text"]


@pytest.mark.parametrize("reason, text, stored", [
    ("retired", None, "retired"),
    ("retired", "  shop closed ", "retired: shop closed"),
    ("elsewhere", "", "handled elsewhere"),
    ("other", "moved to the vault", "moved to the vault"),
    ("other", "x" * 300, "x" * 300),
])
def test_mute_reasons_as_stored(reason, text, stored):
    assert validate_mute(reason, text) == stored


@pytest.mark.parametrize("reason, text, field", [
    ("other", None, "text"),
    ("other", "   ", "text"),
    ("other", "x" * 301, "text"),
    ("retired", "line\nbreak", "text"),
    ("other", "bell\x07", "text"),
    (None, "why", "reason"),
    ("forever", None, "reason"),
])
def test_mute_reasons_refused(reason, text, field):
    with pytest.raises(MuteRejected) as caught:
        validate_mute(reason, text)
    assert list(caught.value.errors) == [field]
