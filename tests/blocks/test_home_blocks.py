"""The Home view and the list message: groups, order, row contents, and Slack's limits at 0, 1 and 5,000 tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from renewbot.blocks import ids
from renewbot.blocks.common import MAX_HEADER_TEXT, MAX_SECTION_TEXT
from renewbot.blocks.home import LIST_ROWS, home_view, list_blocks, list_text
from renewbot.domain.thresholds import UNKNOWN_EXPIRY
from renewbot.usecases.overview import DUE, EXPIRED, FINE, SCOPE_NAMED, arrange, parse_list_words
from storage.home import OpenNotice, TokenLine
from storage.models import Account

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def line(tid: str, expires_at: datetime, *, name: str | None = None, owners=("U0OWNER",), kind="amazon-sp-api",
         lead_days: int = 30, channel: str = "C0ALERTS", known: bool = True) -> TokenLine:
    return TokenLine(tid, name or f"Token {tid}", kind, expires_at, expires_at - timedelta(days=lead_days), known,
                     tuple(owners), channel)


def many(n: int, *, long: bool = False) -> list[TokenLine]:
    """n tokens spread over expired, due and fine, in shuffled order."""
    out = []
    for i in range(n):
        days = (i * 7919) % 400 - 60  # -60 .. 339 days from now, in no particular order
        out.append(line(f"tok-{i:05d}", NOW + timedelta(days=days, hours=i % 5),
                        name=("Ä very long name <@U1> & " * 40)[:480] + str(i) if long else None))
    return out


def accounts(n: int) -> list[Account]:
    return [Account(id=f"acct-{i}", name=f"Amazon {i} " + "x" * 80, enabled=i % 2 == 0,
                    settings_url=f"https://commerce.example/a/{i}", state_reason="switched off by the renewal")
            for i in range(n)]


def sections(blocks):
    return [b for b in blocks if b["type"] == "section"]


def rows(blocks):
    return [b for b in blocks if b["type"] == "section" and "accessory" in b]


def headers(blocks):
    return [b["text"]["text"] for b in blocks if b["type"] == "header"]


def check_limits(blocks, limit):
    assert len(blocks) <= limit
    for block in blocks:
        Block.parse(block).to_dict()  # slack_sdk's model accepts each block (types, lengths)
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
            assert len(block.get("fields") or []) <= 10
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= MAX_HEADER_TEXT
    ids_ = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids_) == len(set(ids_))  # Slack refuses a view with a repeated block_id


def not_shown(blocks) -> int | None:
    for b in blocks:
        if b["type"] == "context":
            m = re.match(r"([\d,]+) more tokens? not shown\. Type `/renew-token list( \d+)?` for the list from token",
                         b["elements"][0]["text"])
            if m:
                return int(m.group(1).replace(",", ""))
    return None


def next_command(blocks) -> str | None:
    """The subcommand the last line names for the rest of the list, as typed after `/renew-token list`."""
    last = blocks[-1]
    if last["type"] != "context":
        return None
    m = re.search(r"`/renew-token list( [^`]*)?`", last["elements"][0]["text"])
    return (m.group(1) or "").strip() if m else None


def test_no_tokens_says_so_within_limits():
    view = home_view(arrange([], NOW), NOW)
    View(**view).to_dict()
    check_limits(view["blocks"], 100)
    assert view["type"] == "home"
    assert any("No tokens to show" in s["text"]["text"] for s in sections(view["blocks"]))
    assert rows(view["blocks"]) == [] and not_shown(view["blocks"]) is None
    assert list_text(arrange([], NOW), NOW) == "No tokens to show."


def test_one_token_row_shows_everything_a_person_needs():
    t = line("amazon-eu", NOW + timedelta(days=4), name="Amazon EU SP-API", owners=("U0OWNER", "S0OPS"))
    overview = arrange([t], NOW, accounts={"amazon-eu": accounts(2)},
                       links={"amazon-eu": OpenNotice("https://standin.slack.com/archives/C0ALERTS/p1700000000000100",
                                                     None, None, None, None)})
    view = home_view(overview, NOW)
    View(**view).to_dict()
    check_limits(view["blocks"], 100)
    (row,) = rows(view["blocks"])
    text = row["text"]["text"]
    assert "*Amazon EU SP-API*" in text and "Amazon SP-API authorization" in text  # name and kind label
    assert "|2026-11-30 12:00 UTC>" in text and "4 days left" in text  # expiry date with days left
    assert "<@U0OWNER>, <!subteam^S0OPS>" in text  # owners
    assert "Amazon 0" in text and "(on)" in text and "(off: switched off by the renewal)" in text  # account states
    assert "<https://standin.slack.com/archives/C0ALERTS/p1700000000000100|open notice>" in text
    button = row["accessory"]
    assert button["action_id"] == ids.HOME_RENEW_BUTTON == ids.RENEW_BUTTON and button["value"] == "amazon-eu"
    assert headers(view["blocks"])[1:] == [":hourglass_flowing_sand: Due (1)"]
    assert not_shown(view["blocks"]) is None
    assert "Amazon EU SP-API (2026-11-30, 4 days left)" in list_text(overview, NOW)


def test_groups_in_order_and_by_expiry_within_each():
    lines = [line("fine-late", NOW + timedelta(days=200)), line("due-late", NOW + timedelta(days=20)),
             line("expired-recent", NOW - timedelta(hours=2)), line("fine-soon", NOW + timedelta(days=40)),
             line("due-soon", NOW + timedelta(days=2)), line("expired-long", NOW - timedelta(days=9)),
             line("unknown", UNKNOWN_EXPIRY, known=False)]
    blocks = home_view(arrange(lines, NOW), NOW)["blocks"]
    assert [r["accessory"]["value"] for r in rows(blocks)] == [
        "expired-long", "expired-recent", "due-soon", "due-late", "fine-soon", "fine-late", "unknown"]
    assert headers(blocks)[1:] == [":rotating_light: Expired (2)", ":hourglass_flowing_sand: Due (2)",
                                   ":white_check_mark: Fine (3)"]
    texts = [r["text"]["text"] for r in rows(blocks)]
    assert "Expired <!date^" in texts[0] and "expired 9 days ago" in texts[0]
    assert "Expiry unknown" in texts[-1]
    assert "primary" not in str(rows(blocks)[-1]["accessory"])  # only urgent rows get the primary style


def test_due_starts_when_a_threshold_is_reached():
    # 20 days left: due on the default ladder (30 days ahead), still fine on a ladder that starts 14 days ahead.
    lines = [line("default", NOW + timedelta(days=20)), line("short", NOW + timedelta(days=20), lead_days=14)]
    overview = arrange(lines, NOW)
    assert [(e.line.id, e.group) for e in overview.entries] == [("default", "due"), ("short", "fine")]


def test_five_thousand_tokens_show_the_most_urgent_and_count_the_rest():
    lines = many(5000)
    overview = arrange(lines, NOW)
    view = home_view(overview, NOW)
    View(**view).to_dict()
    blocks = view["blocks"]
    check_limits(blocks, 100)
    assert len(blocks) == 100  # the room is used, not wasted
    shown = [r["accessory"]["value"] for r in rows(blocks)]
    assert shown == [e.line.id for e in overview.entries[:len(shown)]]
    assert not_shown(blocks) == 5000 - len(shown) and blocks[-1]["type"] == "context"
    expired = sum(1 for t in lines if t.expires_at <= NOW)
    assert headers(blocks)[1] == f":rotating_light: Expired ({expired:,})"
    # The most urgent: everything shown is expired (there are more expired tokens than rows).
    assert all("expired" in r["text"]["text"] for r in rows(blocks))


def test_long_names_and_many_accounts_stay_within_section_limits():
    lines = many(5000, long=True)
    overview = arrange(lines, NOW, accounts={t.id: accounts(40) for t in lines[:200]})
    listed = arrange(lines, NOW, accounts={t.id: accounts(40) for t in lines[:200]}, limit=LIST_ROWS)
    for blocks, limit in ((home_view(overview, NOW)["blocks"], 100), (list_blocks(listed, NOW), 50)):
        check_limits(blocks, limit)
        assert limit == 50 or not_shown(blocks) == 5000 - len(rows(blocks))
        assert all("and 35 more" in r["text"]["text"] for r in rows(blocks) if r["accessory"]["value"] in
                   {t.id for t in lines[:200]})
        assert "<@U1>" not in str(blocks) and "&lt;@U1&gt;" in str(blocks)  # names never mention anyone
    assert len(list_text(overview, NOW)) <= MAX_SECTION_TEXT


def test_a_list_page_fits_a_message_and_names_the_next():
    overview = arrange(many(120), NOW, limit=LIST_ROWS)
    blocks = list_blocks(overview, NOW)
    check_limits(blocks, 50)
    assert len(rows(blocks)) == LIST_ROWS and next_command(blocks) == "2"
    assert blocks[-1]["elements"][0]["text"] == "Tokens 1–40 of 120. Next: `/renew-token list 2`"
    assert "renewbot status" not in str(blocks)  # a CLI command: nothing a Slack user can run
    text = list_text(overview, NOW)
    first = overview.entries[0].line
    assert text.startswith("120 tokens by urgency: ") and f"{first.name} ({first.expires_at:%Y-%m-%d}, " in text
    assert text.endswith("and 100 more")


def page(lines, words: str):
    group, number = parse_list_words(words)
    return arrange(lines, NOW, limit=LIST_ROWS, group=group, offset=(number - 1) * LIST_ROWS)


def test_paging_through_five_thousand_tokens_reaches_the_last_one():
    lines = many(5000)
    everything = [e.line.id for e in arrange(lines, NOW).entries]
    home = home_view(arrange(lines, NOW), NOW)["blocks"]
    on_home = [r["accessory"]["value"] for r in rows(home)]
    words = next_command(home)  # Home names the page holding its first token not shown
    seen, pages = [], 0
    while words is not None:
        blocks = list_blocks(page(lines, words), NOW)
        check_limits(blocks, 50)
        seen.extend(r["accessory"]["value"] for r in rows(blocks))
        pages += 1
        words = next_command(blocks) if "Next:" in blocks[-1]["elements"][0]["text"] else None
    start = (len(on_home) // LIST_ROWS) * LIST_ROWS
    assert seen == everything[start:] and seen[-1] == everything[-1]
    assert set(on_home) | set(seen) == set(everything)  # nothing falls between Home and the list
    assert pages == 125 - start // LIST_ROWS
    assert "the last page" in blocks[-1]["elements"][0]["text"]


def test_each_group_pages_to_its_last_token():
    lines = many(5000)
    overview = arrange(lines, NOW)
    for group in (EXPIRED, DUE, FINE):
        expected = [e.line.id for e in overview.entries if e.group == group]
        seen, words = [], group
        while words is not None:
            blocks = list_blocks(page(lines, words), NOW)
            check_limits(blocks, 50)
            seen.extend(r["accessory"]["value"] for r in rows(blocks))
            words = next_command(blocks) if "Next:" in str(blocks[-1]) else None
        assert seen == expected, group


def test_the_hint_at_the_boundary():
    # Exactly one page: no last line at all; one token more: page 2 is named and holds just that token.
    blocks = list_blocks(arrange(many(LIST_ROWS), NOW, limit=LIST_ROWS), NOW)
    assert len(rows(blocks)) == LIST_ROWS and blocks[-1]["type"] == "section"
    over = many(LIST_ROWS + 1)
    blocks = list_blocks(arrange(over, NOW, limit=LIST_ROWS), NOW)
    assert next_command(blocks) == "2"
    last = list_blocks(page(over, "page 2"), NOW)
    assert len(rows(last)) == 1 and last[-1]["elements"][0]["text"] == "Tokens 41–41 of 41: the last page."
    # Home (title and summary, then one group header): 97 expired tokens all fit; with 98, 96 rows and the line.
    expired = [line(f"e{i:03d}", NOW - timedelta(days=i + 1)) for i in range(98)]
    fits = home_view(arrange(expired[:97], NOW), NOW)["blocks"]
    assert len(fits) == 100 and len(rows(fits)) == 97 and not_shown(fits) is None and next_command(fits) is None
    over = home_view(arrange(expired, NOW), NOW)["blocks"]
    assert len(over) == 100 and len(rows(over)) == 96 and not_shown(over) == 2
    assert next_command(over) == "3" and "from token 81 on" in over[-1]["elements"][0]["text"]  # 97th is on page 3


def test_list_words():
    assert parse_list_words("") == (None, 1)
    assert parse_list_words("2") == (None, 2) and parse_list_words("page 2") == (None, 2)
    assert parse_list_words("DUE") == (DUE, 1) and parse_list_words("fine page 3") == (FINE, 3)
    assert parse_list_words("expired 12") == (EXPIRED, 12)
    for other in ("0", "page", "foo", "due due", "2 due", "1234567", "-1", "²"):
        assert parse_list_words(other) is None, other


def test_a_page_past_the_end_and_an_empty_group_say_so():
    blocks = list_blocks(page(many(50), "9"), NOW)
    assert "There is no page 9 of your tokens: there are 2 pages (`/renew-token list 2` is the last)." in str(blocks)
    fine_only = [line("f", NOW + timedelta(days=300))]
    assert list_text(page(fine_only, "expired"), NOW) == "No expired tokens to show."


def test_the_view_says_when_it_is_incomplete_and_what_a_guest_sees():
    blocks = home_view(arrange([], NOW, complete=False, scope=SCOPE_NAMED), NOW)["blocks"]
    contexts = " ".join(b["elements"][0]["text"] for b in blocks if b["type"] == "context")
    assert "could not ask Slack" in contexts
    assert "You see tokens that name you or a user group you are in." in contexts
    full = home_view(arrange([], NOW), NOW)["blocks"]
    assert "could not ask Slack" not in str(full) and "tokens of channels you are in" in str(full)


def test_owners_wildcard_and_channel_wording():
    lines = [line("any", NOW + timedelta(days=2), owners=("*",)), line("chan", NOW + timedelta(days=3), owners=())]
    texts = [r["text"]["text"] for r in rows(home_view(arrange(lines, NOW), NOW)["blocks"])]
    assert "Owners: any full member" in texts[0] and "Owners: members of <#C0ALERTS>" in texts[1]
    assert "Accounts: none listed" in texts[0]


def test_a_row_says_who_is_on_it_what_is_snoozed_and_what_is_muted():
    expiry = NOW + timedelta(days=3)
    muted = line("muted", expiry)._replace(muted_by="U0MUTER", mute_reason="handled <elsewhere>")
    acked, snoozed, over = line("acked", expiry), line("snoozed", expiry), line("over", expiry)
    links = {"acked": OpenNotice("https://x/p1", "U0ACK", NOW - timedelta(hours=1), None, None),
             "snoozed": OpenNotice(None, None, None, NOW + timedelta(days=1), "U0SNOOZE"),
             "over": OpenNotice(None, None, None, NOW - timedelta(minutes=1), "U0SNOOZE")}  # a snooze that ended
    view = home_view(arrange([muted, acked, snoozed, over], NOW, links=links), NOW)
    text = {b["block_id"].split(":", 1)[1]: b["text"]["text"] for b in rows(view["blocks"])}
    assert "muted by <@U0MUTER>: handled &lt;elsewhere&gt;" in text["muted"]
    assert "<@U0ACK> is on it since" in text["acked"] and "open notice" in text["acked"]
    assert "snoozed until" in text["snoozed"] and "<@U0SNOOZE>" in text["snoozed"]
    assert "snoozed" not in text["over"] and "muted" not in text["acked"]
