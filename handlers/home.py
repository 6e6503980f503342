"""The App Home tab (app_home_opened -> views.publish), refreshed after renewals; and `/renew-token list`.

(Stub: to be built.)"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import App

from handlers.access import Access
from handlers.lookups import FormLookups
from renewbot.runtime.deps import Deps

logger = logging.getLogger(__name__)


def register(app: App, *, deps: Deps, lookups: FormLookups, access: Access) -> None:
    pass


def answer_list(*, deps: Deps, lookups: FormLookups, access: Access, user_id: str,
                tell: Callable[[str, list[dict] | None], None]) -> None:
    """`/renew-token list`: the tokens this person may see, by urgency, with days left (ephemeral)."""
    raise NotImplementedError
