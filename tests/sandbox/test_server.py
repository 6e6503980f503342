"""`renewbot sandbox`: the real bot against the in-process stand-in, driven through the page's own endpoints.

Every interaction here goes page endpoint -> signed request at the bot's /slack/events -> the bot -> the stand-in,
as the page's script does it; no browser (the Chromium tests drive the same endpoints by clicks).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from renewbot.blocks import ids
from renewbot.errors import ConfigError
from renewbot.runtime import cli
from renewbot.sandbox import demo
from renewbot.sandbox.session import Sandbox

ALERTS = "C0123ALERTS"
OWNER_HERE = {"user": demo.OWNER, "channel": ALERTS}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("sandbox")
    box = Sandbox(port=0, root=root, environ={"DATABASE_URL": f"sqlite:///{root}/not-this.db"}, env_file=None)
    box.start()
    yield box
    box.stop()


def get(sandbox, path: str) -> tuple[int, dict, str]:
    with urllib.request.urlopen(sandbox.url + path.lstrip("/"), timeout=30) as response:
        return response.status, dict(response.headers), response.read().decode()


def post(sandbox, route: str, **body) -> tuple[int, dict]:
    request = urllib.request.Request(sandbox.url + "sandbox/" + route, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def notice(sandbox, name: str, channel: str = ALERTS) -> dict:
    return next(m for m in sandbox.standin.snapshot().messages[channel]
                if m.get("thread_ts") is None and name in json.dumps(m.get("blocks")))


def click_renew(sandbox, token_id: str, name: str, user: str = demo.OWNER) -> dict:
    status, state = post(sandbox, "action", where={**OWNER_HERE, "user": user}, channel=ALERTS,
                         ts=notice(sandbox, name)["ts"],
                         action={"action_id": ids.RENEW_BUTTON, "block_id": ids.NOTICE_ACTIONS_BLOCK,
                                 "type": "button", "value": token_id})
    assert status == 200, state
    return state


def secret_field(value: str) -> list[dict]:
    return [{"block_id": ids.SECRET_BLOCK, "action_id": ids.SECRET_INPUT, "type": "plain_text_input",
             "value": value}]


def test_the_page_is_served_with_a_strict_csp_and_nothing_from_elsewhere(sandbox):
    status, headers, html = get(sandbox, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    # Only links inside messages may point elsewhere (the accounts' settings pages); no asset does.
    assets = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/") for a in assets)
    assert "<script>" not in html and not re.search(r"\son[a-z]+=", html)
    for asset, kind in (("static/page.js", "javascript"), ("static/page.css", "css")):
        status, headers, body = get(sandbox, asset)
        assert status == 200 and kind in headers["Content-Type"] and body
        assert "http://" not in body and "https://" not in body
    assert 'id="you-are"' in html and 'id="advance-day"' in html and 'id="message-box"' in html


def test_the_demo_notices_are_in_the_standin_and_on_the_page(sandbox):
    headers = [b["text"]["text"] for messages in sandbox.standin.snapshot().messages.values()
               for m in messages if m.get("thread_ts") is None for b in m.get("blocks") or []
               if b["type"] == "header"]
    assert any("Amazon EU SP-API authorization" in h for h in headers)  # 3 days
    assert any("Seller app LWA client secret" in h for h in headers)  # 30 days
    assert any("Shipping carrier API key" in h for h in headers)  # expired
    assert not any("Payments webhook signing key" in h for h in headers)  # fine: no notice
    _, _, html = get(sandbox, f"/?user={demo.OWNER}&channel={ALERTS}")
    assert "Amazon EU SP-API authorization" in html and f'data-action-id="{ids.RENEW_BUTTON}"' in html


def test_renew_opens_the_modal_refuses_a_bad_token_inline_then_renews_in_the_thread(sandbox):
    opened = len(sandbox.standin.calls_to("views.open"))
    state = click_renew(sandbox, "amazon-eu-sp-api", "Amazon EU SP-API authorization")
    assert len(sandbox.standin.calls_to("views.open")) == opened + 1
    view_id = state["modal"]["id"]
    assert view_id and "<dialog" in state["modal"]["html"] and f'name="{ids.SECRET_BLOCK}/' in state["modal"]["html"]

    _, state = post(sandbox, "submit", where=OWNER_HERE, view_id=view_id, values=secret_field("Atza|not-refresh"))
    assert state["modal"]["id"] == view_id  # still open, with the error under its field
    assert "starts with Atzr|" in text(state["modal"]["html"]) and 'role="alert"' in state["modal"]["html"]

    ts = notice(sandbox, "Amazon EU SP-API authorization")["ts"]
    _, state = post(sandbox, "submit", where={**OWNER_HERE, "thread": ts}, view_id=view_id,
                    values=secret_field("Atzr|a-valid-refresh-token"))
    assert state["modal"]["id"] == ""  # closed
    thread = text(state["thread_html"])
    assert "renewed" in thread and "→" in thread
    assert "Amazon UK (enabled" in thread and "Amazon DE (enabled" in thread
    assert "a-valid-refresh-token" not in json.dumps(state)


def test_an_external_select_loads_its_options_from_the_bot(sandbox):
    state = click_renew(sandbox, "amazon-lwa-secret", "Seller app LWA client secret")
    view_id = state["modal"]["id"]
    assert 'data-external="1"' in state["modal"]["html"]
    suggestions = len(sandbox.standin.calls)  # the answer comes over HTTP from the bot, not from the stand-in
    status, answer = post(sandbox, "suggest", where=OWNER_HERE, view_id=view_id, action_id=ids.TOKEN_SEARCH,
                          block_id=ids.TOKEN_BLOCK, value="ship")
    assert status == 200 and any("Shipping" in o["text"]["text"] for o in answer["options"])
    assert len(sandbox.standin.calls) >= suggestions
    _, state = post(sandbox, "close", where=OWNER_HERE, view_id=view_id)
    assert state["modal"]["id"] == ""


def test_a_stranger_is_refused_where_they_are(sandbox):
    state = click_renew(sandbox, "amazon-lwa-secret", "Seller app LWA client secret", user=demo.STRANGER)
    assert state["modal"]["id"] == ""
    assert "Only visible to you" in state["messages_html"]
    refusal = sandbox.standin.calls_to("chat.postEphemeral")[-1].params
    assert refusal["user"] == demo.STRANGER and "only its owners can" in refusal["text"]
    assert "only its owners can" in text(state["messages_html"])
    _, owner_view = post(sandbox, "close", where=OWNER_HERE, view_id="none")
    assert "only its owners can" not in text(owner_view["messages_html"])  # ephemeral: only the stranger sees it


def test_renew_token_list_from_the_message_box_is_ephemeral(sandbox):
    status, state = post(sandbox, "command", where=OWNER_HERE, text="/renew-token list")
    assert status == 200
    listed = state["messages_html"].split("Only visible to you")[-1]
    assert "Shipping carrier API key" in text(listed)
    status, answer = post(sandbox, "command", where=OWNER_HERE, text="hello")
    assert status == 400 and "/renew-token" in answer["error"]


def test_the_home_tab_is_published_when_opened(sandbox):
    status, state = post(sandbox, "home", where={**OWNER_HERE, "tab": "home"})
    assert status == 200 and demo.OWNER in sandbox.standin.snapshot().home_views
    assert "Seller app LWA client secret" in text(state["home_html"])


def test_advancing_the_clock_runs_the_scan_a_day_later(sandbox):
    _, before = post(sandbox, "close", where=OWNER_HERE, view_id="none")
    _, after = post(sandbox, "clock", where=OWNER_HERE)
    assert after["clock"] > before["clock"]
    assert after["version"] != before["version"]


def test_the_page_refuses_what_no_page_sends(sandbox):
    assert post(sandbox, "action", where={"user": "U0NOBODY"}, action={})[0] == 400
    request = urllib.request.Request(sandbox.url + "sandbox/home", data=b"user=U0123OWNER", method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400


def test_the_sandbox_has_its_own_database_and_secrets(sandbox):
    assert sandbox.settings.database_url == f"sqlite:///{sandbox.root}/data/sandbox.db"
    assert (sandbox.root / "data" / "sandbox.db").is_file()
    assert not (sandbox.root / "not-this.db").exists() and not (sandbox.root / "data" / "renewbot.db").exists()
    assert sandbox.settings.slack_api_url == sandbox.standin.url
    _, _, html = get(sandbox, "/")
    assert not any(secret in html for secret in sandbox.secret_values)


def test_a_slack_api_url_pointing_elsewhere_is_refused(tmp_path):
    box = Sandbox(port=0, root=tmp_path, environ={"SLACK_API_URL": "https://slack.com/api/"}, env_file=None)
    with pytest.raises(ConfigError, match="SLACK_API_URL"):
        box.start()
    assert not (tmp_path / "data").exists()


def test_the_command_refuses_with_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLACK_API_URL", "https://slack.com/api/")
    assert cli.main(["sandbox", "--check", "--port", "0"]) == 2
    assert "SLACK_API_URL" in capsys.readouterr().err


def test_check_starts_serves_the_page_and_exits(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLACK_API_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/theirs.db")
    assert cli.main(["sandbox", "--check", "--port", "0"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"sandbox: open http://127\.0\.0\.1:\d+/", out) and "served the page" in out
    assert (tmp_path / "data" / "sandbox.db").is_file() and not (tmp_path / "theirs.db").exists()
