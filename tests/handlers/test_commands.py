"""/renew-token over signed HTTP: known, unknown and missing token arguments, owners."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from renewbot.blocks import ids
from tests.conftest import NOW
from tests.support.bot_server import settle
from tests.support.seed import account, seed, token
from tests.support.slack_requests import block_suggestion_payload, form_payload_body, slash_command_body


def seed_tokens(engine, owners=("U0OWNER",)):
    seed(engine, now=NOW, accounts=[account("amazon-uk")], tokens=[
        token("amazon-eu-mws", NOW + timedelta(days=5), name="Amazon EU MWS token", accounts=["amazon-uk"],
              owners=list(owners)),
        token("shipping-key", NOW + timedelta(days=40), kind="generic", name="Shipping API key"),
    ])


def test_command_with_a_token_id_opens_the_prefilled_modal_quickly(engine, slack, bot):
    seed_tokens(engine)
    started = time.monotonic()
    status, body = bot.command("amazon-eu-mws")
    assert status == 200 and body == b""
    (opened,) = slack.wait_for("views.open")
    assert opened.at - started < 3  # the trigger_id lives 3 seconds
    view = opened.params["view"]
    picker = next(b for b in view["blocks"] if b.get("block_id") == ids.TOKEN_BLOCK)
    assert picker["element"]["initial_option"]["value"] == "amazon-eu-mws"
    assert view["submit"]["text"] == "Renew"


def test_command_finds_a_token_by_name_too(engine, slack, bot):
    seed_tokens(engine)
    slack.channel_members["C0ALERTS"] = ["U0OWNER"]  # shipping-key names no owners: its channel's members may
    bot.command("shipping api KEY")
    (opened,) = slack.wait_for("views.open")
    assert "shipping-key" in opened.params["view"]["private_metadata"]


def test_unknown_token_gets_an_ephemeral_list_of_close_matches(engine, slack, bot):
    seed_tokens(engine)
    status, _ = bot.command("amazon-eu-mvs")
    assert status == 200
    (reply,) = slack.wait_for("response_url:cmd")
    assert reply.params["response_type"] == "ephemeral"
    assert "`amazon-eu-mws`" in reply.params["text"] and "shipping-key" not in reply.params["text"]
    settle()
    assert slack.calls_to("views.open") == []


def test_no_argument_opens_a_picker_and_picking_fills_the_form(engine, slack, bot):
    seed_tokens(engine)
    slack.channel_members["C0ALERTS"] = ["U0OWNER"]
    bot.command("")
    (opened,) = slack.wait_for("views.open")
    view = opened.params["view"]
    assert "submit" not in view
    picker = next(b for b in view["blocks"] if b.get("block_id") == ids.TOKEN_BLOCK)
    assert "initial_option" not in picker["element"]
    assert picker["element"]["type"] == "external_select" and picker["element"]["min_query_length"] == 0
    (stored,) = slack.views.values()
    # Its options come from the options load request, as Slack sends it when the picker is opened.
    status, _, answer = bot.post(form_payload_body(block_suggestion_payload(
        action_id=ids.TOKEN_SELECT, block_id=ids.TOKEN_BLOCK, value="", view=stored, user_id="U0OWNER")))
    options = json.loads(answer)["options"]
    assert status == 200 and {o["value"] for o in options} == {"amazon-eu-mws", "shipping-key"}
    option = next(o for o in options if o["value"] == "shipping-key")
    assert bot.pick(stored, option) == 200
    (update,) = slack.wait_for("views.update")
    new_view = update.params["view"]
    assert update.params["view_id"] == stored["id"] and update.params["hash"] == stored["hash"]
    block_ids = [b.get("block_id") for b in new_view["blocks"]]
    assert ids.SECRET_BLOCK in block_ids and ids.EXPIRY_BLOCK in block_ids
    expiry = next(b for b in new_view["blocks"] if b.get("block_id") == ids.EXPIRY_BLOCK)
    assert "initial_date" not in expiry["element"]  # generic tokens have no standard lifetime


def test_non_owner_gets_an_explanation_and_no_form(engine, slack, bot):
    seed_tokens(engine)
    bot.command("amazon-eu-mws", user="U0OTHER")
    (reply,) = slack.wait_for("response_url:cmd")
    assert reply.params["response_type"] == "ephemeral"
    assert "only its owners" in reply.params["text"] and "<@U0OWNER>" in reply.params["text"]
    settle()
    assert slack.calls_to("views.open") == []


def test_picker_lists_only_what_the_person_may_renew(engine, slack, bot):
    seed_tokens(engine)
    slack.channel_members["C0ALERTS"] = ["U0OWNER", "U0NEW"]
    bot.command("", user="U0OTHER")
    slack.wait_for("views.open")
    view = next(iter(slack.views.values()))

    def listed(user):
        _, _, answer = bot.post(form_payload_body(block_suggestion_payload(
            action_id=ids.TOKEN_SELECT, block_id=ids.TOKEN_BLOCK, value="", view=view, user_id=user)))
        return [o["value"] for o in json.loads(answer)["options"]]
    assert listed("U0OTHER") == []  # neither an owner nor in the channel: nothing to list
    assert listed("U0NEW") == ["shipping-key"]  # in the channel: the token without owners, not amazon-eu-mws


def test_owner_through_a_user_group(engine, slack, bot):
    slack.usergroups["S0OPS"] = ["U0MEMBER"]
    seed_tokens(engine, owners=("U0OWNER", "S0OPS"))
    bot.command("amazon-eu-mws", user="U0MEMBER")
    slack.wait_for("views.open")
    assert slack.calls_to("usergroups.users.list")[0].params["usergroup"] == "S0OPS"


def test_forged_or_stale_requests_are_refused(engine, slack, bot):
    seed_tokens(engine)
    body = slash_command_body(text="amazon-eu-mws", user_id="U0OWNER", response_url=slack.response_url("x"))
    from tests.support.slack_requests import post_signed
    status, _, _ = post_signed(bot.events, body, "not-the-secret")
    assert status == 401
    status, _, _ = bot.post(body, timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    settle()
    assert slack.calls_to("views.open") == []
