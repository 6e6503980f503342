"""The add modal, its confirmation, the group picker's options and the usage text: pure builders."""

from __future__ import annotations

from datetime import UTC, date, datetime

from slack_sdk.models.views import View

from renewbot.blocks import ids
from renewbot.blocks.add import (
    add_modal,
    added_view,
    channel_problem_text,
    group_options,
    kind_option,
    not_allowed_to_add_text,
)
from renewbot.blocks.help import usage_text
from renewbot.domain.kinds import BUILTIN_KINDS, Kind
from renewbot.domain.marketplaces import MARKETPLACES
from renewbot.usecases.add_token import AddOutcome

KINDS = [*BUILTIN_KINDS.values(), Kind(id="stripe", label="Stripe key")]
ADD_IDS = {v for k, v in vars(ids).items() if k.startswith("ADD_")}
TODAY = date(2026, 11, 26)


def inputs(view: dict) -> dict[str, dict]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def test_the_modal_has_every_field_each_with_ids_from_ids_py_and_a_label():
    view = add_modal(kinds=KINDS, adder_becomes_owner=True, channel="C0ALERTS")
    assert len(view["blocks"]) == 10
    fields = inputs(view)
    assert list(fields) == [ids.ADD_NAME_BLOCK, ids.ADD_ID_BLOCK, ids.ADD_KIND_BLOCK, ids.ADD_MARKETPLACE_BLOCK,
                            ids.ADD_EXPIRY_BLOCK, ids.ADD_CHANNEL_BLOCK, ids.ADD_OWNER_USERS_BLOCK,
                            ids.ADD_OWNER_GROUPS_BLOCK, ids.ADD_ACCOUNTS_BLOCK]
    for block_id, block in fields.items():
        assert block_id in ADD_IDS and block["element"]["action_id"] in ADD_IDS
        assert block["label"]["text"].strip()
    assert view["callback_id"] == ids.ADD_MODAL and view["submit"]["text"] == "Add"
    assert "private_metadata" not in view  # the channel is preselected by Slack, and nothing else is carried
    optional = {b for b, block in fields.items() if block.get("optional")}
    assert optional == {ids.ADD_ID_BLOCK, ids.ADD_MARKETPLACE_BLOCK, ids.ADD_OWNER_USERS_BLOCK,
                        ids.ADD_OWNER_GROUPS_BLOCK, ids.ADD_ACCOUNTS_BLOCK}
    View(**view).to_dict()  # slack_sdk's model accepts it (lengths, types)


def test_pickers_are_the_ones_the_issue_names():
    fields = inputs(add_modal(kinds=KINDS, adder_becomes_owner=True, channel="C0ALERTS"))
    channel = fields[ids.ADD_CHANNEL_BLOCK]["element"]
    assert channel["type"] == "conversations_select"
    assert channel["filter"] == {"include": ["public", "private"], "exclude_bot_users": True}
    assert channel["default_to_current_conversation"] is True
    assert fields[ids.ADD_OWNER_USERS_BLOCK]["element"]["type"] == "multi_users_select"
    groups = fields[ids.ADD_OWNER_GROUPS_BLOCK]["element"]
    assert (groups["type"], groups["action_id"]) == ("multi_external_select", ids.OWNER_GROUP_SEARCH)
    accounts = fields[ids.ADD_ACCOUNTS_BLOCK]["element"]
    assert (accounts["type"], accounts["action_id"]) == ("multi_external_select", ids.ACCOUNT_SEARCH)
    assert fields[ids.ADD_EXPIRY_BLOCK]["element"]["type"] == "datepicker"
    markets = fields[ids.ADD_MARKETPLACE_BLOCK]["element"]["options"]
    assert [o["value"] for o in markets] == list(MARKETPLACES)


def test_kinds_are_listed_with_legacy_ones_labelled():
    options = inputs(add_modal(kinds=KINDS, adder_becomes_owner=True))[ids.ADD_KIND_BLOCK]["element"]["options"]
    assert [o["value"] for o in options] == [*BUILTIN_KINDS, "stripe"]
    mws = next(o for o in options if o["value"] == "amazon-mws")
    assert mws["text"]["text"].count("legacy") == 1
    assert kind_option(Kind(id="old", label="Old thing", legacy=True))["text"]["text"] == "Old thing (legacy) (old)"
    assert "legacy" not in kind_option(BUILTIN_KINDS["generic"])["text"]["text"]


def test_a_modal_opened_from_a_dm_preselects_no_channel():
    fields = inputs(add_modal(kinds=KINDS, adder_becomes_owner=True, channel="D0DIRECT"))
    assert "default_to_current_conversation" not in fields[ids.ADD_CHANNEL_BLOCK]["element"]


def test_a_name_typed_after_add_is_prefilled_and_its_id_suggested():
    fields = inputs(add_modal(kinds=KINDS, adder_becomes_owner=True, name="Amazon  EU SP-API"))
    assert fields[ids.ADD_NAME_BLOCK]["element"]["initial_value"] == "Amazon EU SP-API"
    assert fields[ids.ADD_ID_BLOCK]["hint"]["text"].startswith("Leave empty to use amazon-eu-sp-api.")
    bare = inputs(add_modal(kinds=KINDS, adder_becomes_owner=True))
    assert "initial_value" not in bare[ids.ADD_NAME_BLOCK]["element"]
    assert "amazon-eu-sp-api" in bare[ids.ADD_ID_BLOCK]["hint"]["text"]  # the rule, by example


def test_the_owners_hint_says_who_renews_without_owners():
    mine = inputs(add_modal(kinds=KINDS, adder_becomes_owner=True))[ids.ADD_OWNER_USERS_BLOCK]["hint"]["text"]
    admins = inputs(add_modal(kinds=KINDS, adder_becomes_owner=False))[ids.ADD_OWNER_USERS_BLOCK]["hint"]["text"]
    assert "You are added as an owner" in mine
    assert "members of the channel may renew it" in admins


def test_without_admins_the_channel_hint_asks_for_a_channel_the_adder_is_in():
    def hint(becomes_owner: bool) -> str:
        return inputs(add_modal(kinds=KINDS, adder_becomes_owner=becomes_owner))[ids.ADD_CHANNEL_BLOCK]["hint"]["text"]
    assert hint(True).endswith("It must be a channel you are in.")
    assert "you are in" not in hint(False) and "/invite @renewbot" in hint(False)


def test_many_team_kinds_stay_within_slacks_option_limit():
    many = [Kind(id=f"k{i}", label=f"Kind {i}") for i in range(150)]
    view = add_modal(kinds=many, adder_becomes_owner=True)
    assert len(inputs(view)[ids.ADD_KIND_BLOCK]["element"]["options"]) == 100
    View(**view).to_dict()


def outcome(**kw) -> AddOutcome:
    values = dict(token_id="eu-sp", name="EU <b>SP</b>", kind_label="Amazon SP-API authorization",
                  channel="C0ALERTS", expires_at=datetime(2027, 6, 1, tzinfo=UTC),
                  notify_from=datetime(2027, 5, 2, tzinfo=UTC), first_threshold_days=30,
                  owners=("U0ANNA", "S0OPS"), accounts=("amazon-uk",))
    return AddOutcome(**{**values, **kw})


def test_the_confirmation_names_the_token_owners_and_the_first_notice():
    view = added_view(outcome(), now_date=TODAY)
    text = " ".join(b.get("text", {}).get("text", "") or b.get("elements", [{}])[0].get("text", "")
                    for b in view["blocks"])
    assert "*EU &lt;b&gt;SP&lt;/b&gt;* (`eu-sp`)" in text
    assert "<@U0ANNA>, <!subteam^S0OPS>" in text and "`amazon-uk`" in text
    assert "first notice comes on 2027-05-02, 30 days before" in text
    assert "/renew-token eu-sp" in text and "submit" not in view
    View(**view).to_dict()


def test_the_confirmation_of_a_token_due_soon_says_next_scan_and_no_owners_means_the_channel():
    view = added_view(outcome(owners=(), notify_from=datetime(2026, 11, 1, tzinfo=UTC)), now_date=TODAY)
    text = " ".join(b["text"]["text"] for b in view["blocks"] if "text" in b)
    assert "at renewbot's next scan" in text
    assert "none: the members of <#C0ALERTS> may renew it" in text


def test_texts_for_the_channel_and_refusals():
    assert "/invite @renewbot" in channel_problem_text("not_member", "C0X")
    assert "archived" in channel_problem_text("archived", "C0X")
    assert "Try again" in channel_problem_text("unverified", "C0X")
    assert channel_problem_text("adder_not_member", "C0X").startswith("You are not a member of this channel")
    assert "<@U0ADMIN>, <!subteam^S0ADMINS>" in not_allowed_to_add_text("not_owner", ("U0ADMIN", "S0ADMINS"))
    assert "Guests" in not_allowed_to_add_text("guest", ())
    assert "another organisation" in not_allowed_to_add_text("other_team", ())
    assert "could not check" in not_allowed_to_add_text("unverified", ("U0ADMIN",))


GROUPS = [("S01", "ops-team", "Operations"), ("S02", "sales", "Sales"), ("S03", "devops", "Dev Ops")]


def test_group_options_filter_by_handle_or_name_prefixes_first():
    assert [o["value"] for o in group_options(GROUPS, "ops")] == ["S01", "S03"]
    assert [o["value"] for o in group_options(GROUPS, "@SAL")] == ["S02"]
    assert [o["value"] for o in group_options(GROUPS, "dev ops")] == ["S03"]  # by name
    assert [o["value"] for o in group_options(GROUPS, "")] == ["S03", "S01", "S02"]
    assert group_options(GROUPS, "nothing") == []
    assert group_options(GROUPS, "ops")[0]["text"]["text"] == "@ops-team (Operations)"


def test_group_options_stop_at_100():
    many = [(f"S{i:04d}", f"team-{i}", "") for i in range(250)]
    options = group_options(many, "team")
    assert len(options) == 100 and options[0]["text"]["text"] == "@team-0"


def test_usage_names_every_subcommand_and_who_may_add():
    open_text = usage_text(admins_configured=False)
    for word in ("/renew-token list", "/renew-token add", "/renew-token help", "/renew-token &lt;token id or name&gt;"):
        assert word in open_text
    assert "becomes one of its owners" in open_text
    assert "RENEWBOT_ADMINS" in usage_text(admins_configured=True)


def test_usage_says_list_shows_the_tokens_you_can_see_not_only_those_you_may_renew():
    (line,) = [b for b in usage_text(admins_configured=False).splitlines() if "/renew-token list" in b]
    assert "the tokens you can see" in line and "may renew" not in line


def test_one_mention_and_one_option_helper_serve_every_builder():
    from renewbot.blocks import add, common, followups, messages, modal
    assert (common.mention("U0ANNA"), common.mention("W0GRID"), common.mention("S0OPS")) == (
        "<@U0ANNA>", "<@W0GRID>", "<!subteam^S0OPS>")
    assert followups.mention("channel") == "<!channel>" and followups.mention("S0OPS") == "<!subteam^S0OPS>"
    assert "only its owners can (<@U0ANNA>, <!subteam^S0OPS>)" in messages.not_allowed_text("T", ["U0ANNA", "S0OPS"])
    assert common.option("x" * 80, "v") == {"text": {"type": "plain_text", "text": "x" * 74 + "…", "emoji": True},
                                            "value": "v"}
    assert not hasattr(add, "_option") and not hasattr(modal, "_option")
