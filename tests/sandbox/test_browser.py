"""`renewbot sandbox` in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright), by clicks and keys.

The sandbox runs in-process on a free port; every step below is what a person does on the page, and the page's own
script sends it to the bot signed as Slack would. Locators are by role and label where the page offers them, so
these tests also check that the controls are named for assistive technology.

Screenshots go to a temporary folder on every run; with RENEWBOT_SCREENSHOTS=docs (a folder, relative to the
repository) they also replace the README's images: `RENEWBOT_SCREENSHOTS=docs .venv/bin/python -m pytest
tests/sandbox/test_browser.py`.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from renewbot.sandbox import demo
from renewbot.sandbox.session import Sandbox

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS_ENV = "RENEWBOT_SCREENSHOTS"
WAIT_MS = 10_000  # each expectation; a step's round trip (page -> bot -> stand-in -> page) takes well under 1 s

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing, and CI=true forbids skipping the browser tests "
                        "(.ci/run installs Debian's chromium with apt)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-sandbox")
    box = Sandbox(port=0, root=root, environ={}, env_file=None)
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    """save(page_or_locator, name): into the run's temporary folder, and into $RENEWBOT_SCREENSHOTS when set."""
    folder = tmp_path_factory.mktemp("screenshots")
    target = os.environ.get(SCREENSHOTS_ENV, "").strip()

    def save(what, name: str) -> Path:
        path = folder / f"sandbox-{name}.png"
        what.screenshot(path=str(path), animations="disabled", caret="hide")
        assert path.stat().st_size > 1000
        if target:
            destination = ROOT / target
            destination.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination / path.name)
        return path

    return save


@pytest.fixture
def page(chromium, sandbox) -> Page:
    context = chromium.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    context.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(sandbox.url)
    yield page
    context.close()
    assert not errors, f"the page's script failed: {errors}"


def notice(page: Page, name: str):
    """The top-level notice whose header names `name`."""
    return page.locator("#messages article.bk-message").filter(
        has=page.get_by_role("heading", name=re.compile(re.escape(name))))


def renew_dialog(page: Page):
    return page.get_by_role("dialog", name="Renew token")


def test_the_whole_renewal_loop_by_clicks(page, screenshots):
    eu = notice(page, "Amazon EU SP-API authorization")
    expect(eu).to_be_visible()
    expect(eu).to_contain_text("Amazon UK (off), Amazon DE (off)")
    screenshots(eu, "notice")
    ts = eu.get_attribute("data-ts")
    old = re.search(r"Expiry date\s+(\d{4}-\d\d-\d\d)", eu.inner_text()).group(1)

    eu.get_by_role("button", name="Renew", exact=True).click()
    dialog = renew_dialog(page)
    expect(dialog).to_be_visible()
    secret = dialog.get_by_role("textbox", name="New token")
    expect(secret).to_be_editable()

    secret.fill("Atza|not-a-refresh-token")
    dialog.get_by_role("button", name="Renew", exact=True).click()
    alert = dialog.get_by_role("alert")
    expect(alert).to_contain_text("starts with Atzr|")
    expect(secret).to_have_attribute("aria-invalid", "true")
    expect(secret).to_be_focused()  # the page moves focus to the field in error
    screenshots(page, "modal")

    secret.fill("Atzr|a-valid-refresh-token")
    dialog.get_by_role("button", name="Renew", exact=True).click()
    expect(page.locator("#modal-host dialog")).to_have_count(0)

    # The notice is edited in place (its header goes), so from here on it is found by its ts.
    resolved = page.locator(f'#messages article.bk-message[data-ts="{ts}"]')
    expect(resolved).to_contain_text(re.compile(rf"renewed by .*{old} → \d{{4}}-\d\d-\d\d"))
    expect(resolved.get_by_role("button", name="Renew", exact=True)).to_have_count(0)
    replies = resolved.get_by_role("button", name="1 reply")
    expect(replies).to_be_visible()
    replies.click()
    thread = page.get_by_role("complementary", name="Thread")
    expect(thread).to_be_visible()
    log = thread.get_by_role("log")
    expect(log).to_contain_text("renewed")
    expect(log).to_contain_text(re.compile(rf"Expiry: {old} → \d{{4}}-\d\d-\d\d"))
    new = re.search(rf"Expiry: {old} → (\d{{4}}-\d\d-\d\d)", log.inner_text()).group(1)
    assert new > old
    expect(log).to_contain_text(re.compile(r"Amazon UK \(enabled"))
    expect(log).to_contain_text(re.compile(r"Amazon DE \(enabled"))
    expect(page.get_by_role("button", name="Close thread")).to_be_focused()
    assert "a-valid-refresh-token" not in page.content()
    screenshots(page, "thread")

    page.get_by_role("button", name="Close thread").click()
    expect(thread).to_be_hidden()


def test_a_stranger_is_refused_where_they_are(page):
    page.get_by_label("You are").select_option(demo.STRANGER)
    lwa = notice(page, "Seller app LWA client secret")
    lwa.get_by_role("button", name="Renew", exact=True).click()
    refusal = page.locator("#messages article.bk-message").filter(has=page.locator(".bk-ephemeral"))
    expect(refusal.last).to_contain_text("only its owners can")
    expect(refusal.last).to_contain_text("Only visible to you")
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.get_by_label("You are").select_option(demo.OWNER)  # an ephemeral is the stranger's alone
    expect(page.locator("#messages")).not_to_contain_text("only its owners can")


def test_renew_token_list_typed_in_the_message_box(page):
    box = page.get_by_label(re.compile(r"^Message #token-alerts"))
    box.fill("/renew-token list")
    page.get_by_role("button", name="Send").click()
    listed = page.locator("#messages article.bk-message").filter(has=page.locator(".bk-ephemeral")).last
    expect(listed).to_contain_text("Shipping carrier API key")
    expect(listed).to_contain_text("Amazon EU SP-API authorization")
    expect(box).to_have_value("")


def test_the_home_tab_lists_the_tokens(page):
    nav = page.get_by_role("navigation", name="Channels and apps")
    nav.get_by_role("button", name="renewbot — Home").click()
    home = page.get_by_role("region", name="Home", exact=True)
    expect(home).to_be_visible()
    for name in ("Shipping carrier API key", "Amazon EU SP-API authorization", "Seller app LWA client secret"):
        expect(home).to_contain_text(name)
    expect(page.locator("#channel-view")).to_be_hidden()

    nav.get_by_role("button", name="#token-alerts").click()
    expect(page.locator("#channel-view")).to_be_visible()


def test_renew_is_reached_and_dismissed_by_keyboard(page):
    renew = notice(page, "Seller app LWA client secret").get_by_role("button", name="Renew", exact=True)
    expect(renew).to_be_visible()
    for _ in range(40):  # Tab through the header and the channel list until the notice's Renew has focus
        page.keyboard.press("Tab")
        if renew.evaluate("element => element === document.activeElement"):
            break
    expect(renew).to_be_focused()

    page.keyboard.press("Enter")
    dialog = renew_dialog(page)
    expect(dialog).to_be_visible()
    focused_inside = "dialog => dialog.contains(document.activeElement) && dialog !== document.activeElement"
    assert dialog.evaluate(focused_inside), "the dialog opens with focus on its first field"

    page.keyboard.press("Escape")
    expect(page.locator("#modal-host dialog")).to_have_count(0)
    expect(renew).to_be_focused()  # back where the person was

    renew.press("Enter")  # and Cancel, reached by keyboard, closes it as well
    expect(dialog).to_be_visible()
    cancel = dialog.get_by_role("button", name="Cancel")
    cancel.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#modal-host dialog")).to_have_count(0)
