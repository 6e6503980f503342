"""renewbot/domain/marketplaces.py: the Seller Central hosts, and how a code from a file finds its marketplace."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from renewbot.domain.marketplaces import MARKETPLACES, Marketplace, known_codes, marketplace


@pytest.mark.parametrize("code, url", [
    ("uk", "https://sellercentral.amazon.co.uk/apps/manage"),
    ("de", "https://sellercentral.amazon.de/apps/manage"),
    ("fr", "https://sellercentral.amazon.fr/apps/manage"),
    ("it", "https://sellercentral.amazon.it/apps/manage"),
    ("es", "https://sellercentral.amazon.es/apps/manage"),
    ("us", "https://sellercentral.amazon.com/apps/manage"),
    ("ca", "https://sellercentral.amazon.ca/apps/manage"),
    ("mx", "https://sellercentral.amazon.com.mx/apps/manage"),
    ("jp", "https://sellercentral.amazon.co.jp/apps/manage"),
    ("au", "https://sellercentral.amazon.com.au/apps/manage"),
    ("in", "https://sellercentral.amazon.in/apps/manage"),
])
def test_each_issue_named_marketplace_links_to_its_manage_your_apps(code, url):
    assert marketplace(code).manage_apps_url == url


def test_every_row_is_keyed_by_its_lowercase_code_on_an_amazon_https_host():
    assert len(MARKETPLACES) == 22
    for code, place in MARKETPLACES.items():
        assert code == place.code == code.lower() and code.isalpha() and len(code) == 2
        parts = urlsplit(place.manage_apps_url)
        assert parts.scheme == "https" and parts.path == "/apps/manage" and not parts.query
        assert parts.hostname.startswith("sellercentral.amazon.") and not place.seller_central.endswith("/")
    assert len({p.seller_central for p in MARKETPLACES.values()}) == len(MARKETPLACES)


@pytest.mark.parametrize("raw", ["UK", " uk ", "Uk"])
def test_a_code_is_found_whatever_its_case_and_spaces(raw):
    assert marketplace(raw) is MARKETPLACES["uk"]


@pytest.mark.parametrize("raw", [None, "", "gb", "zz", "u k", 44, ["uk"]])
def test_anything_else_is_no_marketplace(raw):
    assert marketplace(raw) is None


def test_known_codes_lists_every_code_in_table_order():
    assert known_codes().startswith("us, ca, mx, br, uk, de, fr, it, es, ")
    assert known_codes().split(", ") == list(MARKETPLACES)


def test_a_marketplace_is_immutable():
    with pytest.raises(AttributeError):
        MARKETPLACES["uk"].seller_central = "https://evil.example"  # type: ignore[misc]
    assert Marketplace("xx", "X", "https://s.example").manage_apps_url == "https://s.example/apps/manage"
