"""Amazon marketplaces: one row each, the only place that knows their Seller Central hosts.

A token may name its `marketplace` (import file); renewal steps and the form then link to that marketplace's
Seller Central "Manage Your Apps" page, where SP-API authorizations are renewed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Marketplace:
    code: str  # what the import file says: uk, de, us, ...
    name: str
    seller_central: str  # base URL, no trailing slash

    @property
    def manage_apps_url(self) -> str:
        return f"{self.seller_central}/apps/manage"


MARKETPLACES: dict[str, Marketplace] = {m.code: m for m in (
    Marketplace("us", "Amazon.com (United States)", "https://sellercentral.amazon.com"),
    Marketplace("ca", "Amazon.ca (Canada)", "https://sellercentral.amazon.ca"),
    Marketplace("mx", "Amazon.com.mx (Mexico)", "https://sellercentral.amazon.com.mx"),
    Marketplace("br", "Amazon.com.br (Brazil)", "https://sellercentral.amazon.com.br"),
    Marketplace("uk", "Amazon.co.uk (United Kingdom)", "https://sellercentral.amazon.co.uk"),
    Marketplace("de", "Amazon.de (Germany)", "https://sellercentral.amazon.de"),
    Marketplace("fr", "Amazon.fr (France)", "https://sellercentral.amazon.fr"),
    Marketplace("it", "Amazon.it (Italy)", "https://sellercentral.amazon.it"),
    Marketplace("es", "Amazon.es (Spain)", "https://sellercentral.amazon.es"),
    Marketplace("nl", "Amazon.nl (Netherlands)", "https://sellercentral.amazon.nl"),
    Marketplace("se", "Amazon.se (Sweden)", "https://sellercentral.amazon.se"),
    Marketplace("pl", "Amazon.pl (Poland)", "https://sellercentral.amazon.pl"),
    Marketplace("be", "Amazon.com.be (Belgium)", "https://sellercentral.amazon.com.be"),
    Marketplace("ie", "Amazon.ie (Ireland)", "https://sellercentral.amazon.ie"),
    Marketplace("tr", "Amazon.com.tr (Türkiye)", "https://sellercentral.amazon.com.tr"),
    Marketplace("ae", "Amazon.ae (United Arab Emirates)", "https://sellercentral.amazon.ae"),
    Marketplace("sa", "Amazon.sa (Saudi Arabia)", "https://sellercentral.amazon.sa"),
    Marketplace("eg", "Amazon.eg (Egypt)", "https://sellercentral.amazon.eg"),
    Marketplace("in", "Amazon.in (India)", "https://sellercentral.amazon.in"),
    Marketplace("jp", "Amazon.co.jp (Japan)", "https://sellercentral.amazon.co.jp"),
    Marketplace("au", "Amazon.com.au (Australia)", "https://sellercentral.amazon.com.au"),
    Marketplace("sg", "Amazon.sg (Singapore)", "https://sellercentral.amazon.sg"),
)}


def marketplace(code: str | None) -> Marketplace | None:
    return MARKETPLACES.get(code.strip().lower()) if isinstance(code, str) else None


def known_codes() -> str:
    """The codes an import file may use, for the message that refuses another one."""
    return ", ".join(MARKETPLACES)
