"""The private entry page in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): open the
link, paste the secret, submit, see "Renewed". The CSP is enforced by the browser here, not only sent."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from storage.db import session_scope
from storage.models import Token
from tests.runtime.test_secret_page import (  # noqa: F401 - fixtures, used by name
    TOKEN,
    get_link,
    page_bot,
    page_deps,
    world,
)

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.browser


@pytest.fixture
def chromium():
    if not CHROMIUM.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing, and CI=true forbids skipping the browser tests")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_renew_on_the_private_page_in_chromium(world, slack, page_bot, page_deps, chromium):  # noqa: F811
    path, _ = get_link(slack, page_bot)
    secret = f"amzn.mws.{uuid.uuid4()}"
    page = chromium.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(page_bot.url + path)
    assert page.locator("h1").inner_text() == "Renew Amazon EU MWS token"
    assert page.locator("#expiry").input_value() == "2027-11-26"
    page.fill("#secret", secret)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Renewed: you can close this tab")
    assert violations == []  # the inline style is allowed by its hash; nothing else was needed
    with session_scope(world) as s:
        assert page_deps.box.decrypt(s.get(Token, TOKEN).secret_encrypted) == secret
    page.goto(page_bot.url + path)
    assert "no longer works" in page.content()
    page.close()
