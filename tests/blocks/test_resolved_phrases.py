"""One builder for a resolved notice, whoever renewed it: a person (by <@U…>) or a renewal seen at the source."""

from __future__ import annotations

from datetime import UTC, datetime

from renewbot.blocks.notice import resolved_blocks, resolved_text
from renewbot.blocks.source import source_resolved_blocks, source_resolved_text

OLD, NEW = datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC)
WHEN = "(<!date^1803859200^{date_long_pretty} at {time}|2027-03-01 00:00 UTC>)"
CONTEXT = {"type": "context", "elements": [{"type": "mrkdwn", "text": "renewbot · resolved · details in the thread"}]}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_a_notice_renewed_by_a_person_names_them():
    assert resolved_blocks("Shop <EU>", "U0RENEWER", OLD, NEW) == [_section(
        f":white_check_mark: *Shop &lt;EU&gt;* was renewed by <@U0RENEWER>: expiry 2026-12-01 → 2027-03-01 {WHEN}."),
        CONTEXT]
    assert resolved_text("Shop <EU>", OLD, NEW) == "Shop &lt;EU&gt; renewed: expiry 2026-12-01 → 2027-03-01"


def test_a_notice_renewed_outside_renewbot_says_where_it_was_seen():
    assert source_resolved_blocks("Shop <EU>", OLD, NEW, "tls://shop.example:443") == [_section(
        f":white_check_mark: *Shop &lt;EU&gt;* was renewed outside renewbot: expiry 2026-12-01 → 2027-03-01 "
        f"{WHEN}, seen on `shop.example:443`."), CONTEXT]
    assert source_resolved_text("Shop <EU>", OLD, NEW) == (
        "Shop &lt;EU&gt; renewed outside renewbot: expiry 2026-12-01 → 2027-03-01")
