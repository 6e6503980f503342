"""Who sees which tokens on Home and in `/renew-token list`, decided with Slack's answers (the stand-in)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from handlers.access import Access
from renewbot.runtime.slack_client import make_client
from renewbot.usecases.overview import DUE, EXPIRED, FINE, SCOPE_CHANNELS, SCOPE_NAMED, overview_for
from storage import home as store
from storage.db import session_scope
from storage.models import Notice, NoticeState
from tests.conftest import NOW
from tests.support.seed import account, seed, token

ME = "U0ME"


@pytest.fixture
def world(engine, slack):
    slack.usergroups.update({"S0OPS": [ME, "U0X"], "S0OTHER": ["U0X"]})
    slack.channel_members.update({"C0MINE": [ME, "U0X"], "C0NOT": ["U0X"]})
    seed(engine, now=NOW, accounts=[account("amazon-uk", enabled=False)], tokens=[
        token("named", NOW + timedelta(days=300), owners=[ME], channel="C0NOT", accounts=["amazon-uk"]),
        token("group", NOW + timedelta(days=5), owners=["S0OPS"], channel="C0NOT"),
        token("other-group", NOW + timedelta(days=5), owners=["S0OTHER"], channel="C0NOT"),
        token("channel-mine", NOW - timedelta(days=1), owners=["U0X"], channel="C0MINE"),
        token("channel-not", NOW + timedelta(days=2), owners=[], channel="C0NOT"),
        token("wild-mine", NOW + timedelta(days=100), owners=["*"], channel="C0MINE"),
        token("wild-elsewhere", NOW + timedelta(days=100), owners=["*"], channel="C0NOT"),
        token("retired", NOW + timedelta(days=1), owners=[ME], channel="C0MINE", retired=True),
    ])
    return engine


def seen(engine, slack, user=ME, limit=100):
    access = Access(make_client("xoxb-test", slack.url))
    overview = overview_for(engine=engine, people=access, user_id=user, now=NOW, limit=limit)
    return overview, [e.line.id for e in overview.entries]


def test_a_full_member_sees_named_group_and_channel_tokens_by_urgency(world, slack):
    overview, ids_ = seen(world, slack)
    assert ids_ == ["channel-mine", "group", "wild-mine", "named"]  # expired, due, fine by expiry
    assert [e.group for e in overview.entries] == [EXPIRED, DUE, FINE, FINE]
    assert dict(overview.counts) == {EXPIRED: 1, DUE: 1, FINE: 2}
    assert overview.scope == SCOPE_CHANNELS and overview.complete
    named = overview.entries[-1]
    assert [a.id for a in named.accounts] == ["amazon-uk"] and named.kind_label == "Amazon MWS auth token (legacy)"
    # Bounded Slack calls: one users.info, one users.conversations, one list of members per user group.
    assert len(slack.calls_to("users.info")) == 1 and len(slack.calls_to("users.conversations")) == 1
    assert len(slack.calls_to("usergroups.users.list")) == 2
    assert slack.calls_to("conversations.members") == []


def test_a_stranger_sees_nothing(world, slack):
    overview, ids_ = seen(world, slack, user="U0STRANGER")
    assert ids_ == [] and overview.total == 0 and overview.complete


@pytest.mark.parametrize("who", ["guest", "ultra", "external"])
def test_guests_and_slack_connect_users_see_only_tokens_naming_them(world, slack, who):
    if who == "external":
        slack.external(ME)
    else:
        slack.guest(ME, ultra=who == "ultra")
    overview, ids_ = seen(world, slack)
    assert ids_ == ["group", "named"]  # not channel-mine nor wild-mine, though ME is in C0MINE
    assert overview.scope == SCOPE_NAMED and overview.complete


def test_a_guest_not_named_sees_nothing(world, slack):
    slack.guest("U0GUEST")
    slack.channel_members["C0MINE"].append("U0GUEST")
    assert seen(world, slack, user="U0GUEST")[1] == []


def test_when_slack_cannot_say_the_channels_only_named_tokens_show(world, slack):
    slack.fail_next("users.conversations", error="internal_error")
    overview, ids_ = seen(world, slack)
    assert ids_ == ["group", "named"] and not overview.complete


def test_when_slack_cannot_say_who_the_person_is_only_named_tokens_show(world, slack):
    slack.fail_next("users.info", error="internal_error")
    overview, ids_ = seen(world, slack)
    assert ids_ == ["group", "named"] and not overview.complete


def test_when_a_group_cannot_be_read_just_now_its_tokens_are_left_out_and_the_view_says_so(world, slack):
    slack.fail_next("usergroups.users.list", status=503, times=3)
    overview, ids_ = seen(world, slack)
    assert "group" not in ids_ and not overview.complete


def test_a_deleted_group_names_no_one_and_the_view_is_still_complete(world, slack):
    slack.usergroups.pop("S0OPS")  # usergroups.users.list answers no_such_subteam
    overview, ids_ = seen(world, slack)
    assert ids_ == ["channel-mine", "wild-mine", "named"] and overview.complete


def test_many_user_groups_cost_one_call(engine, slack):
    groups = [f"S0G{n:02d}" for n in range(30)]
    slack.usergroups.update({g: [ME] if n == 7 else ["U0X"] for n, g in enumerate(groups)})
    seed(engine, now=NOW, tokens=[token(f"t{n:02d}", NOW + timedelta(days=n + 1), owners=[g], channel="C0NOT")
                                  for n, g in enumerate(groups)])
    slack.channel_members["C0NOT"] = ["U0X"]
    overview, ids_ = seen(engine, slack)
    assert ids_ == ["t07"] and overview.complete
    assert len(slack.calls_to("usergroups.list")) == 1 and slack.calls_to("usergroups.users.list") == []


def test_details_only_for_shown_rows_in_a_fixed_number_of_statements(world, slack):
    with session_scope(world) as s:
        s.add(Notice(token_id="group", expires_at=NOW + timedelta(days=5), stage="7d", state=NoticeState.SENT,
                     channel="C0NOT", ts="1.1", root_ts="1.1", permalink="https://x.example/p1", created_at=NOW))
        s.add(Notice(token_id="named", expires_at=NOW + timedelta(days=1), stage="1d", state=NoticeState.SUPERSEDED,
                     channel="C0NOT", ts="1.2", root_ts="1.2", permalink="https://x.example/old", created_at=NOW))
    statements = []
    listener = lambda *args: statements.append(args[2])
    event.listen(world, "before_cursor_execute", listener)
    try:
        overview, ids_ = seen(world, slack, limit=2)
    finally:
        event.remove(world, "before_cursor_execute", listener)
    assert ids_ == ["channel-mine", "group"] and overview.total == 4
    assert overview.entries[1].permalink == "https://x.example/p1"
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 4  # tokens; then accounts, notice links and kinds for the shown rows


def test_home_openers_are_upserted_and_read_most_recent_first(engine):
    with session_scope(engine) as s:
        store.record_opened(session=s, user_id="U1", at=NOW - timedelta(hours=2))
        store.record_opened(session=s, user_id="U2", at=NOW - timedelta(minutes=30))
        store.record_opened(session=s, user_id="U3", at=NOW - timedelta(minutes=10))
    with session_scope(engine) as s:
        store.record_opened(session=s, user_id="U1", at=NOW - timedelta(minutes=5))  # opened again
    with session_scope(engine) as s:
        assert store.recent_openers(session=s, since=NOW - timedelta(hours=1), limit=50) == ["U1", "U3", "U2"]
        assert store.recent_openers(session=s, since=NOW - timedelta(hours=1), limit=2) == ["U1", "U3"]
