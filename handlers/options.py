"""Options loads (block_suggestion) for the external selects: tokens, accounts, user groups.

(Stub: to be built.)"""

from __future__ import annotations

from slack_bolt import App

from handlers.access import Access
from handlers.lookups import FormLookups
from renewbot.runtime.deps import Deps


def register(app: App, *, deps: Deps, lookups: FormLookups, access: Access) -> None:
    pass
