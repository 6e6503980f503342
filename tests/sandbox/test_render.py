"""The sandbox's Block Kit renderer: every block and element renewbot emits, built by renewbot's own builders, comes
out as real controls with the data the page's script reads; unknown types stay visible; payload text is escaped.
The HTML is parsed (html.parser) into a small tree, so structure is checked, not text patterns."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from renewbot.blocks import ids
from renewbot.blocks.add import add_modal, added_view
from renewbot.blocks.attention import mute_modal
from renewbot.blocks.followups import digest_message, escalation_message, reminder_message
from renewbot.blocks.home import home_view, list_blocks
from renewbot.blocks.messages import confirmation_blocks
from renewbot.blocks.modal import renew_modal
from renewbot.blocks.notice import notice_blocks, resolved_blocks
from renewbot.blocks.platform import not_connected_blocks
from renewbot.blocks.runbook import runbook_blocks
from renewbot.domain.kinds import BUILTIN_KINDS, resolve
from renewbot.sandbox.render import (
    render_blocks,
    render_home,
    render_message,
    render_mrkdwn,
    render_text,
    render_view,
)
from renewbot.usecases.add_token import AddOutcome
from renewbot.usecases.attention import Attention
from renewbot.usecases.overview import arrange
from renewbot.usecases.renewal import RenewalOutcome
from storage.home import TokenLine
from storage.models import Account, Token

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EXPIRES = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
VOID = {"input", "hr", "br", "img", "meta", "link", "source", "wbr", "col", "area", "base", "embed", "track"}
BLOCKS_DIR = Path(__file__).resolve().parents[2] / "renewbot" / "blocks"


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None = None) -> None:
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def find_all(self, tag: str | None = None, **attrs: str | bool) -> list[Node]:
        def match(node: Node) -> bool:
            if tag is not None and node.tag != tag:
                return False
            for key, want in attrs.items():
                key = key.rstrip("_").replace("_", "-")
                if key == "class":  # by class membership, as a CSS selector would
                    if not set(str(want).split()) <= node.classes():
                        return False
                    continue
                if key not in node.attrs or (want is not True and node.attrs[key] != want):
                    return False
            return True
        return [n for n in self.walk() if match(n)]

    def find(self, tag: str | None = None, **attrs: str | bool) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}> in {self.text()[:200]!r}"
        return found[0]

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class Tree(HTMLParser):
    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {})
        self.feed(markup)
        self.close()
        assert self.current is self.root, f"unclosed <{self.current.tag}>"

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        assert self.current.tag == tag, f"</{tag}> closes <{self.current.tag}>"
        self.current = self.current.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(markup: str) -> Node:
    return Tree(markup).root


def token(*, kind: str = "amazon-mws", name: str = "Amazon EU MWS", tid: str = "amazon-eu-mws",
          expires_at: datetime = EXPIRES) -> Token:
    return Token(id=tid, kind=kind, name=name, expires_at=expires_at, notify_from=expires_at - timedelta(days=30),
                 channel="C0ALERTS", owners=["U0OWNER"], app_id=None, version=3)


def accounts(n: int) -> list[Account]:
    return [Account(id=f"amazon-{i}", name=f"Amazon {i}", enabled=i % 2 == 0, fetch_orders=i % 3 != 0,
                    settings_url=f"https://commerce.example/accounts/amazon-{i}") for i in range(n)]


def controls(tree: Node) -> list[Node]:
    tags = ("button", "select", "input", "textarea", "a")
    return [n for n in tree.walk() if n.tag in tags and "data-type" in n.attrs]


def by_action(tree: Node) -> dict[str, Node]:
    return {n.attrs["data-action-id"]: n for n in controls(tree)}


def assert_no_placeholder(tree: Node) -> None:
    assert not [n.text() for n in tree.walk() if "bk-unknown" in n.classes()]


# --- messages ------------------------------------------------------------------------------------

def test_a_notice_renders_header_fields_date_and_every_button_and_the_snooze_select():
    accs = accounts(2)
    blocks = notice_blocks(token(), accs, "3d", NOW, attention=Attention(acked_by="U0ACK", acked_at=NOW))
    tree = parse(render_blocks(blocks))
    assert_no_placeholder(tree)
    assert tree.find("h3").text() == "Amazon EU MWS: 4 days left"
    fields = [n.text() for n in tree.find_all(class_="bk-field")]
    assert fields[0] == "Token idamazon-eu-mws" and tree.find("code").text() == "amazon-eu-mws"
    assert [n.text() for n in tree.find_all("strong")][:2] == ["Amazon EU MWS", "Token id"]
    when = tree.find("time")
    assert when.attrs["datetime"] == "2026-12-01T09:30:00+00:00"
    assert when.text() == "Tuesday, December 1st, 2026 at 09:30 UTC"
    assert "@U0ACK" in [n.text() for n in tree.find_all("span", class_="bk-mention")]  # the attention line
    actions = by_action(tree)
    renew = actions[ids.RENEW_BUTTON]
    assert renew.tag == "button" and renew.attrs["type"] == "button" and "bk-primary" in renew.classes()
    assert renew.attrs["data-value"] == "amazon-eu-mws" and renew.attrs["data-block-id"] == ids.NOTICE_ACTIONS_BLOCK
    assert renew.attrs["data-type"] == "button" and "disabled" not in renew.attrs and renew.text() == "Renew"
    assert ids.ACK_BUTTON not in actions  # someone is on it already
    settings = actions[ids.SETTINGS_BUTTON]  # a url button: a link styled as a button that still reports the click
    assert settings.tag == "a" and settings.attrs["href"] == accs[0].settings_url == settings.attrs["data-url"]
    assert settings.attrs["rel"] == "noopener noreferrer" and "bk-button" in settings.classes()
    snooze = actions[ids.SNOOZE_SELECT]
    assert snooze.tag == "select" and snooze.attrs["data-type"] == "static_select"
    assert snooze.attrs["aria-label"] == "Snooze"
    options = snooze.find_all("option")
    assert options[0].attrs["value"] == "" and "selected" in options[0].attrs  # the placeholder
    option = json.loads(options[1].attrs["data-option"])
    assert option["value"] == options[1].attrs["value"] and option["text"]["type"] == "plain_text"
    assert json.loads(actions[ids.MUTE_BUTTON].attrs["data-value"])["t"] == "amazon-eu-mws"


def test_non_interactive_rendering_disables_every_control_and_unlinks_url_buttons():
    tree = parse(render_blocks(notice_blocks(token(), accounts(1), "3d", NOW), interactive=False))
    found = controls(tree)
    assert {n.attrs["data-type"] for n in found} == {"button", "static_select"}
    for node in found:
        if node.tag == "a":
            assert "href" not in node.attrs and node.attrs["aria-disabled"] == "true"
        else:
            assert "disabled" in node.attrs


def test_the_resolved_notice_and_the_thread_replies_render():
    old, new = EXPIRES, EXPIRES + timedelta(days=365)
    outcome = RenewalOutcome(token_id="eu", token_name="EU <b>token</b>", channel="C0ALERTS", renewed_by="U0R",
                             old_expiry=old, new_expiry=new, thread=None,
                             accounts=[{"id": "a", "name": "Amazon UK", "reenabled": True, "enabled": True,
                                        "fetch_orders": True}])
    for blocks in (resolved_blocks("EU token", "U0R", old, new), confirmation_blocks(outcome),
                   escalation_message("EU", old, ["U0A", "S0GROUP"], 4, NOW)[1],
                   reminder_message("EU", old, NOW)[1], not_connected_blocks(7),
                   digest_message("C0ALERTS", "2026-W48", [("EU", old, "https://x.slack.com/p1"), ("UK", NOW, None)],
                                  NOW)[1],
                   runbook_blocks(token()), list_blocks(arrange([], NOW), NOW)):
        tree = parse(render_blocks(blocks))
        assert_no_placeholder(tree)
        assert tree.text().strip()
    tree = parse(render_blocks(confirmation_blocks(outcome)))
    assert "2026-12-01 → 2027-12-01" in tree.text() and "EU <b>token</b>" in tree.text()  # escaped, shown as typed
    assert not tree.find_all("b") and "✅" in tree.text()
    escalation = parse(render_blocks(escalation_message("EU", old, ["U0A", "S0GROUP"], 4, NOW)[1]))
    assert [n.text() for n in escalation.find_all(class_="bk-mention")] == ["@U0A", "@S0GROUP"]
    done = by_action(parse(render_blocks(not_connected_blocks(7))))[ids.PLATFORM_DONE_BUTTON]
    assert done.attrs["data-value"] == "7" and done.attrs["data-block-id"] == ids.PLATFORM_DONE_BLOCK


def test_a_message_has_its_ts_author_and_a_thread_button_else_its_text():
    message = {"ts": "1700000000.000100", "text": "fallback", "bot_id": "BBOT", "user": "UBOT",
               "blocks": resolved_blocks("EU", "U0R", EXPIRES, EXPIRES + timedelta(days=30))}
    tree = parse(render_message(message, channel="C0ALERTS", thread_count=2))
    article = tree.find("article")
    assert article.attrs["data-ts"] == "1700000000.000100" and article.attrs["data-channel"] == "C0ALERTS"
    assert tree.find(class_="bk-author").text() == "renewbot" and "fallback" not in tree.text()
    thread = tree.find("button", class_="bk-button bk-thread")
    assert thread.attrs["data-thread-ts"] == "1700000000.000100" and thread.text() == "2 replies"
    reply = parse(render_message({"ts": "1700000000.000200", "thread_ts": "1700000000.000100", "text": "*hi* <@U1>",
                                  "user": "U1", "blocks": json.dumps([])}, channel="C0ALERTS"))
    assert reply.find("article").attrs["data-thread-ts"] == "1700000000.000100"
    assert reply.find("strong").text() == "hi" and not reply.find_all("button")


# --- mrkdwn --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, shown", [
    ("{date_long_pretty} at {time}", "Tuesday, December 1st, 2026 at 09:30 UTC"),
    ("{date_short_pretty} at {time}", "Dec 1, 2026 at 09:30 UTC"),
    ("{date_short}", "Dec 1, 2026"), ("{date}", "December 1st, 2026"), ("{date_num}", "2026-12-01"),
])
def test_dates_render_as_time_elements_in_utc(fmt, shown):
    tree = parse(render_mrkdwn(f"<!date^{int(EXPIRES.timestamp())}^{fmt}|2026-12-01 09:30 UTC>"))
    when = tree.find("time")
    assert when.text() == shown and when.attrs["datetime"] == EXPIRES.isoformat()


@pytest.mark.parametrize("raw", ["<!date^nope^{date}|the fallback>", "<!date^1795996800^{ago}|the fallback>"])
def test_a_date_it_cannot_read_shows_its_fallback(raw):
    tree = parse(render_mrkdwn(raw))
    assert tree.text() == "the fallback" and not tree.find_all("time")


def test_mrkdwn_basics():
    tree = parse(render_mrkdwn("*b* _i_ ~s~ `c *not bold*` snake_case_word\n> quoted\n> more\nafter\n```pre *x*```"))
    assert tree.find("strong").text() == "b" and tree.find("em").text() == "i" and tree.find("del").text() == "s"
    assert tree.find("code").text() == "c *not bold*" and "snake_case_word" in tree.text()
    assert tree.find("blockquote").text() == "quotedmore" and tree.find("pre").text() == "pre *x*"
    assert len(tree.find_all("strong")) == 1


def test_links_only_for_http_and_mentions_and_broadcasts():
    tree = parse(render_mrkdwn("<https://a.example/x?y=1&amp;z=2|open &amp; see> <javascript:alert(1)|click> "
                               "<javascript://a.example/%0Aalert(1)|sneaky> <ftp://a.example/f> <data:text/html,x> "
                               "<@U0ONE> <!subteam^S0TWO> <!here> <!channel> <#C0THREE>"))
    (link,) = tree.find_all("a")
    assert link.attrs["href"] == "https://a.example/x?y=1&z=2" and link.text() == "open & see"
    assert link.attrs["rel"] == "noopener noreferrer"
    assert "click" in tree.text() and "sneaky" in tree.text() and "<data:text/html,x>" in tree.text()
    assert [n.text() for n in tree.find_all(class_="bk-mention")] == ["@U0ONE", "@S0TWO", "@here", "@channel",
                                                                      "#C0THREE"]


def test_emoji_known_become_unicode_unknown_stay_as_typed():
    assert parse(render_mrkdwn(":white_check_mark: :rotating_light: :no_such_emoji: 12:30:00")).text() == \
        "✅ 🚨 :no_such_emoji: 12:30:00"
    assert render_text({"type": "plain_text", "text": ":warning: hi", "emoji": True}) == "⚠️ hi"
    assert render_text({"type": "plain_text", "text": ":warning: hi", "emoji": False}) == ":warning: hi"


@pytest.mark.parametrize("text", [HOSTILE, "&lt;script&gt;alert(1)&lt;/script&gt;", "<script>", "`<script>`",
                                  "*<img src=x onerror=alert(1)>*", "\ue0000\ue001<script>"])
def test_hostile_text_is_escaped_everywhere(text):
    for markup in (render_mrkdwn(text), render_text({"type": "plain_text", "text": text}),
                   render_blocks([{"type": "header", "text": {"type": "plain_text", "text": text}},
                                  {"type": "section", "text": {"type": "mrkdwn", "text": text},
                                   "accessory": {"type": "button", "action_id": text, "value": text,
                                                 "text": {"type": "plain_text", "text": text}}}])):
        tree = parse(markup)
        assert not tree.find_all("script") and not tree.find_all("img")
        assert not [n for n in tree.walk() if any(k.startswith("on") for k in n.attrs)]


# --- modals --------------------------------------------------------------------------------------

def labelled(tree: Node) -> None:
    """Every form control has a <label for> (or, for a checkbox/radio group, each option has one)."""
    labels = {n.attrs["for"] for n in tree.find_all("label") if "for" in n.attrs}
    for node in tree.find_all():
        if node.tag in ("input", "select", "textarea"):
            assert node.attrs.get("id") in labels, f"unlabelled {node.attrs}"


def test_the_renewal_dialog_has_a_labelled_form_with_the_state_names_and_an_inline_error():
    t = token(kind="x509", name="shop <cert>")
    view = {**renew_modal(token=t, accounts=accounts(3), today=NOW.date(), channel="C0ALERTS"), "id": "V42"}
    errors = {ids.SECRET_BLOCK: "That is not a certificate <pem>."}
    tree = parse(render_view(view, errors=errors))
    assert_no_placeholder(tree)
    dialog = tree.find("dialog")
    title = tree.find("h2")
    assert dialog.attrs["aria-labelledby"] == title.attrs["id"] and title.text() == "Renew token"
    assert dialog.attrs["data-view-id"] == "V42" and dialog.attrs["data-callback-id"] == ids.RENEW_MODAL
    assert json.loads(dialog.attrs["data-private-metadata"])["token_id"] == t.id
    labelled(tree)
    named = {n.attrs["name"]: n for n in tree.find_all() if "name" in n.attrs}
    picker = named[f"{ids.TOKEN_BLOCK}/{ids.TOKEN_SELECT}"]
    assert picker.tag == "select" and picker.attrs["data-external"] == "1"
    assert picker.attrs["data-dispatch-action"] == "1" and picker.attrs["data-min-query-length"] == "0"
    (chosen,) = [o for o in picker.find_all("option") if "selected" in o.attrs]
    assert chosen.attrs["value"] == t.id and "shop <cert>" in chosen.text()
    secret = named[f"{ids.SECRET_BLOCK}/{ids.SECRET_INPUT}"]
    assert secret.tag == "textarea" and secret.attrs["data-type"] == "plain_text_input" and "required" in secret.attrs
    alert = tree.find(role="alert")
    assert alert.text() == "That is not a certificate <pem>." and alert.attrs["id"] in secret.attrs["aria-describedby"]
    hint = tree.find(class_="bk-hint")
    assert hint.attrs["id"] in secret.attrs["aria-describedby"].split() and secret.attrs["aria-invalid"] == "true"
    expiry = named[f"{ids.EXPIRY_BLOCK}/{ids.EXPIRY_INPUT}"]
    assert expiry.attrs["type"] == "date" and expiry.attrs["data-type"] == "datepicker"
    boxes = tree.find_all("input", type="checkbox")
    assert {b.attrs["name"] for b in boxes} == {f"{ids.REENABLE_BLOCK_PREFIX}0/{ids.ACCOUNTS_INPUT}",
                                               f"{ids.NOFETCH_BLOCK_PREFIX}0/{ids.ACCOUNTS_INPUT}"}
    assert len(boxes) == 6 and sum("checked" in b.attrs for b in boxes[:3]) == 3  # re-enable: all ticked
    assert json.loads(boxes[0].attrs["data-option"]) == {"text": {"type": "plain_text", "text": "Amazon 0",
                                                                  "emoji": True}, "value": "amazon-0"}
    legends = [n.text() for n in tree.find_all("legend")]
    assert legends[0].startswith("Re-enable these accounts") and "(optional)" in legends[0]
    submit = tree.find("button", type="submit")
    assert submit.text() == "Renew" and tree.find("button", class_="bk-button bk-close").text() == "Cancel"


def test_the_bare_picker_and_the_large_form_render():
    bare = parse(render_view(renew_modal(token=None, accounts=[], today=NOW.date())))
    assert not bare.find_all("button", type="submit") and by_action(bare)[ids.TOKEN_SELECT].tag == "select"
    large = parse(render_view(renew_modal(token=token(), accounts=accounts(45), today=NOW.date())))
    assert_no_placeholder(large)
    labelled(large)
    multi = [n for n in large.find_all("select") if n.attrs["data-type"] == "multi_external_select"]
    assert len(multi) == 2 and all("multiple" in n.attrs and n.attrs["data-external"] == "1" for n in multi)
    nofetch = multi[1]
    assert len(nofetch.find_all("option", selected=True)) == sum(not a.fetch_orders for a in accounts(45))


def test_the_add_and_mute_forms_have_every_control_labelled():
    view = add_modal(kinds=list(BUILTIN_KINDS.values()), adder_becomes_owner=True, channel="C0ALERTS", name="<x>")
    tree = parse(render_view(view, errors={ids.ADD_CHANNEL_BLOCK: "renewbot is not in this channel."}))
    assert_no_placeholder(tree)
    labelled(tree)
    types = {n.attrs["name"].split("/")[0]: n.attrs["data-type"] for n in controls(tree) if "name" in n.attrs}
    assert types == {ids.ADD_NAME_BLOCK: "plain_text_input", ids.ADD_ID_BLOCK: "plain_text_input",
                     ids.ADD_KIND_BLOCK: "static_select", ids.ADD_MARKETPLACE_BLOCK: "static_select",
                     ids.ADD_EXPIRY_BLOCK: "datepicker", ids.ADD_CHANNEL_BLOCK: "conversations_select",
                     ids.ADD_OWNER_USERS_BLOCK: "multi_users_select",
                     ids.ADD_OWNER_GROUPS_BLOCK: "multi_external_select",
                     ids.ADD_ACCOUNTS_BLOCK: "multi_external_select"}
    name = by_action(tree)[ids.ADD_NAME_INPUT]
    assert name.attrs["value"] == "<x>" and name.attrs["maxlength"]
    channel = by_action(tree)[ids.ADD_CHANNEL_INPUT]
    assert channel.tag == "input" and "channel id" in channel.attrs["placeholder"]
    assert channel.attrs["data-default-to-current"] == "1" and tree.find(role="alert").attrs["id"] in \
        channel.attrs["aria-describedby"]
    users = by_action(tree)[ids.ADD_OWNER_USERS_INPUT]
    assert users.attrs["data-multiple"] == "1" and "user ids" in users.attrs["placeholder"]
    kinds = by_action(tree)[ids.ADD_KIND_INPUT]
    assert {o.attrs["value"] for o in kinds.find_all("option")} == {"", *BUILTIN_KINDS}
    assert "required" in kinds.attrs and "required" not in by_action(tree)[ids.ADD_MARKETPLACE_INPUT].attrs

    mute = parse(render_view(mute_modal(token(), "3d")))
    labelled(mute)
    radios = mute.find_all("input", type="radio")
    assert len(radios) > 1 and len({r.attrs["name"] for r in radios}) == 1
    assert mute.find("fieldset").find("legend").text() == "Why"
    done = parse(render_view(added_view(AddOutcome("eu", "EU", "credential", "C0A", EXPIRES, NOW, 30, ("U0A",)),
                                        now_date=NOW.date())))
    assert_no_placeholder(done) and done.find("h2").text() == "Token added"


def test_errors_naming_no_input_block_still_show():
    tree = parse(render_view(mute_modal(token(), "3d"), errors={"nowhere": "Something else went wrong"}))
    assert "Something else went wrong" in tree.find(role="alert").text()


# --- home ----------------------------------------------------------------------------------------

def test_the_home_tab_lists_each_token_with_its_renew_button():
    lines = [TokenLine(f"tok-{i}", f"Token <{i}>", "amazon-mws", NOW + timedelta(days=d),
                       NOW + timedelta(days=d - 30), True, ("U0OWNER",),
                       "C0ALERTS") for i, d in enumerate((-2, 3, 90))]
    tree = parse(render_home(home_view(arrange(lines, NOW), NOW)))
    assert_no_placeholder(tree)
    assert tree.find("section").attrs["class"] == "bk-home"
    assert [n.text() for n in tree.find_all("h3")][1:] == ["🚨 Expired (1)", "⏳ Due (1)", "✅ Fine (1)"]
    buttons = [n for n in controls(tree) if n.attrs["data-action-id"] == ids.HOME_RENEW_BUTTON]
    assert [b.attrs["data-value"] for b in buttons] == ["tok-0", "tok-1", "tok-2"]
    assert [b.attrs["data-block-id"] for b in buttons] == [ids.HOME_BLOCK_PREFIX + f"tok-{i}" for i in range(3)]
    assert "Token <1>" in tree.text() and tree.find_all("time")


# --- coverage and unknown types ------------------------------------------------------------------

BLOCK_TYPES = {"header", "section", "context", "actions", "divider", "input"}
NOT_RENDERED_HERE = {"modal", "home", "mrkdwn", "plain_text"}  # views and text objects, covered above


def emitted_types() -> set[str]:
    found = set()
    for path in BLOCKS_DIR.glob("*.py"):
        found |= set(re.findall(r'"type":\s*"([a-z_]+)"', path.read_text()))
    return found


def test_every_type_renewbot_emits_is_supported():
    emitted = emitted_types() - NOT_RENDERED_HERE
    assert {"header", "section", "actions", "button", "external_select", "checkboxes"} <= emitted  # the scan works
    for kind in sorted(emitted):
        if kind in BLOCK_TYPES:
            markup = render_blocks([{"type": kind, "block_id": "b", "label": {"type": "plain_text", "text": "L"},
                                     "element": {"type": "plain_text_input", "action_id": "a"}}])
        else:
            markup = render_view({"blocks": [{"type": "input", "block_id": "b", "label": {"type": "plain_text",
                                                                                          "text": "L"},
                                              "element": {"type": kind, "action_id": "a"}}]})
        assert "Unsupported" not in markup, kind


@pytest.mark.parametrize("element, tag", [
    ({"type": "multi_static_select", "options": [{"text": {"type": "plain_text", "text": "A"}, "value": "a"}]},
     "select"),
    ({"type": "overflow", "options": [{"text": {"type": "plain_text", "text": "Edit"}, "value": "e"}]}, "select"),
    ({"type": "users_select", "initial_user": "U0ONE"}, "input"),
    ({"type": "multi_conversations_select", "initial_conversations": ["C1", "C2"]}, "input"),
    ({"type": "datepicker", "initial_date": "2026-12-01"}, "input"),
    ({"type": "checkboxes", "options": [{"text": {"type": "mrkdwn", "text": "*A*"}, "value": "a"}]}, "input"),
    ({"type": "radio_buttons", "options": [{"text": {"type": "plain_text", "text": "A"}, "value": "a"}]}, "input"),
])
def test_other_action_elements_are_real_controls(element, tag):
    tree = parse(render_blocks([{"type": "actions", "block_id": "acts", "elements": [{**element, "action_id": "x"}]},
                                {"type": "divider"}]))
    (control,) = controls(tree)
    assert control.tag == tag and control.attrs["data-type"] == element["type"]
    assert control.attrs["data-action-id"] == "x" and control.attrs["data-block-id"] == "acts"
    assert tree.find("hr")
    if element["type"] == "multi_conversations_select":
        assert control.attrs["value"] == "C1,C2"
    if element["type"] == "overflow":
        assert control.attrs["aria-label"] == "More actions"


def test_unknown_blocks_and_elements_show_a_visible_placeholder():
    tree = parse(render_blocks([{"type": "video", "title": "x"}, "not a block",
                                {"type": "actions", "elements": [{"type": "workflow_button", "action_id": "w"}]},
                                {"type": "<b>odd</b>"}]))
    shown = [n.text() for n in tree.find_all("div", class_="bk-unknown")]
    assert shown == ["Unsupported block: video", "Unsupported block: str", "Unsupported element: workflow_button",
                     "Unsupported block: <b>odd</b>"]
    assert not tree.find_all("b")
    form = parse(render_view({"blocks": [{"type": "input", "block_id": "b", "label": {"type": "plain_text",
                                                                                      "text": "Rich"},
                                          "element": {"type": "rich_text_input", "action_id": "r"}}]}))
    assert form.find(class_="bk-unknown").text() == "Unsupported element: rich_text_input"
    assert not form.find_all("label")  # no label pointing at a control that is not there


def test_no_inline_handlers_styles_or_external_assets_in_a_full_render():
    markup = "".join([
        render_view(add_modal(kinds=list(BUILTIN_KINDS.values()), adder_becomes_owner=False)),
        render_blocks(notice_blocks(token(kind="x509"), accounts(2), "expired", NOW + timedelta(days=9),
                                    kind=resolve("x509"))),
    ])
    tree = parse(markup)
    for node in tree.walk():
        assert not [k for k in node.attrs if k.startswith("on") or k == "style"], node.attrs
        assert node.tag not in ("script", "style", "link", "img", "iframe")
        assert all(c.startswith("bk-") for c in node.classes()), node.classes()
        if node.tag == "button":
            assert node.attrs.get("type") in ("button", "submit")
