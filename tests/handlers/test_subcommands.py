"""/renew-token's subcommands over signed HTTP: help, list, add, an unknown word, and a token as before."""

from __future__ import annotations

from datetime import timedelta

from renewbot.blocks import ids
from tests.conftest import NOW
from tests.support.bot_server import settle
from tests.support.seed import account, seed, token


def seed_tokens(engine):
    seed(engine, now=NOW, accounts=[account("amazon-uk")], tokens=[
        token("amazon-eu-mws", NOW + timedelta(days=5), name="Amazon EU MWS token", accounts=["amazon-uk"],
              owners=["U0OWNER"]),
        token("shipping-key", NOW + timedelta(days=40), kind="generic", name="Shipping API key", owners=["U0OWNER"]),
        token("not-mine", NOW + timedelta(days=2), kind="generic", name="Someone else's key", owners=["U0OTHER"]),
    ])


def reply_to(bot, slack, text: str, **kw) -> dict:
    status, body = bot.command(text, **kw)
    assert (status, body) == (200, b"")
    (reply,) = slack.wait_for("response_url:cmd")
    assert reply.params["response_type"] == "ephemeral"
    return reply.params


def test_help_shows_usage_and_opens_nothing(engine, slack, bot):
    text = reply_to(bot, slack, "HELP")["text"]
    assert "/renew-token list" in text and "/renew-token add" in text
    assert "/renew-token &lt;token id or name&gt;" in text
    settle()
    assert slack.calls_to("views.open") == []


def test_an_unknown_word_gets_close_matches_and_the_usage(engine, slack, bot):
    seed_tokens(engine)
    text = reply_to(bot, slack, "amazon-eu-mvs")["text"]
    assert "No token called `amazon-eu-mvs`. Did you mean: `amazon-eu-mws`?" in text
    assert "/renew-token list" in text  # the usage follows
    assert "not-mine" not in text  # matches only among tokens this person may renew
    settle()
    assert slack.calls_to("views.open") == []


def test_a_word_with_no_close_match_still_gets_the_usage(engine, slack, bot):
    text = reply_to(bot, slack, "lst")["text"]
    assert "No token called `lst`" in text and "/renew-token help" in text


def test_add_opens_the_add_modal_with_a_typed_name(engine, slack, bot):
    bot.command("add Stripe live key")
    (opened,) = slack.wait_for("views.open")
    view = opened.params["view"]
    assert view["callback_id"] == ids.ADD_MODAL
    name = next(b for b in view["blocks"] if b.get("block_id") == ids.ADD_NAME_BLOCK)
    assert name["element"]["initial_value"] == "Stripe live key"


def test_a_token_id_or_name_still_opens_its_renewal_form(engine, slack, bot):
    seed_tokens(engine)
    bot.command("shipping api key")
    (opened,) = slack.wait_for("views.open")
    assert opened.params["view"]["callback_id"] == ids.RENEW_MODAL
    assert '"token_id":"shipping-key"' in opened.params["view"]["private_metadata"]


def test_add_followed_by_a_tokens_whole_name_opens_that_token(engine, slack, bot):
    seed(engine, now=NOW, tokens=[token("addr-key", NOW + timedelta(days=9), kind="generic", name="Add on key",
                                        owners=["U0OWNER"])])
    bot.command("add on key")
    (opened,) = slack.wait_for("views.open")
    assert opened.params["view"]["callback_id"] == ids.RENEW_MODAL


def test_list_answers_with_the_tokens_by_urgency(engine, slack, bot):
    """Needs handlers.home.answer_list (the list itself is tested with the Home tab)."""
    seed_tokens(engine)
    reply = reply_to(bot, slack, "list")
    shown = reply["text"] + repr(reply.get("blocks") or "")
    assert "Amazon EU MWS token" in shown and "Shipping API key" in shown
    assert "Someone else" not in shown
    assert shown.index("Amazon EU MWS token") < shown.index("Shipping API key")  # 5 days before 40 days
    assert "5 days" in shown
    settle()
    assert slack.calls_to("views.open") == []


def test_list_pages_and_groups_over_http(engine, slack, bot):
    seed(engine, now=NOW, tokens=[token(f"t{i:02d}", NOW + timedelta(days=i + 1), kind="generic",
                                        owners=["U0OWNER"]) for i in range(45)])
    replies = []
    for n, text in enumerate(["list", "LIST page 2", "list due"], start=1):
        assert bot.command(text) == (200, b"")
        replies.append(slack.wait_for("response_url:cmd", count=n)[-1].params)
    first, second, due = replies
    assert all(r["response_type"] == "ephemeral" for r in replies)
    assert "Next: `/renew-token list 2`" in repr(first["blocks"])
    values = [b["accessory"]["value"] for b in second["blocks"] if "accessory" in b]
    assert values == [f"t{i:02d}" for i in range(40, 45)]  # the last token is reached
    assert "Tokens 41–45 of 45: the last page." in repr(second["blocks"])
    # A 30-day ladder: t00..t29 are due.
    assert [b["accessory"]["value"] for b in due["blocks"] if "accessory" in b] == [f"t{i:02d}" for i in range(30)]
    assert "renewbot status" not in repr(replies)


def test_list_followed_by_other_words_is_read_as_a_token_name(engine, slack, bot):
    text = reply_to(bot, slack, "list everything")["text"]
    assert "No token called `list everything`" in text
