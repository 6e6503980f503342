"""`/renew-token add`: the modal that registers a new token, and its submission.

(Stub: to be built.)"""

from __future__ import annotations

from slack_bolt import App

from handlers.access import Access
from handlers.lookups import FormLookups
from renewbot.runtime.deps import Deps


def register(app: App, *, deps: Deps, lookups: FormLookups, access: Access, admins: tuple[str, ...]) -> None:
    pass
