"""The App Home tab (app_home_opened -> views.publish), refreshed after renewals; and `/renew-token list`.

Home is published when a person opens it, and again after each renewal for the people who opened it in the last
REFRESH_WITHIN (at most REFRESH_MAX of them, the most recent first: a renewal must not turn into a burst of
hundreds of views.publish calls; the others see it the next time they open the tab).

`/renew-token list [expired|due|fine] [[page] N]` answers one page (LIST_ROWS tokens) of the same overview.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from handlers.access import Access
from handlers.payload import read_home_opened
from renewbot.blocks.home import HOME_BLOCKS, LIST_ROWS, home_view, list_blocks, list_text
from renewbot.blocks.messages import failure_text
from renewbot.runtime.deps import Deps
from renewbot.usecases.overview import overview_for
from storage import home as store
from storage.db import session_scope

logger = logging.getLogger(__name__)

REFRESH_WITHIN = timedelta(hours=1)
REFRESH_MAX = 50


def register(app: App, *, deps: Deps, access: Access) -> None:
    @app.event("app_home_opened")
    def _opened(event, client):
        # bolt acknowledges events itself; this listener runs after the ack.
        on_home_opened(event=event, client=client, deps=deps, access=access)


def on_home_opened(*, event: dict, client, deps: Deps, access: Access) -> None:
    user_id = read_home_opened(event)
    if user_id is None:
        return  # the Messages tab, or an event we cannot read
    try:
        with session_scope(deps.engine) as session:
            store.record_opened(session=session, user_id=user_id, at=deps.clock())
    except Exception:
        logger.exception("could not record that %s opened Home; publishing it anyway", user_id)
    publish_home(client, deps=deps, access=access, user_id=user_id)


def publish_home(client, *, deps: Deps, access: Access, user_id: str) -> bool:
    """Builds this person's Home and publishes it. A failure is logged; it never reaches the person."""
    try:
        now = deps.clock()
        overview = overview_for(engine=deps.engine, people=access, user_id=user_id, now=now, limit=HOME_BLOCKS)
        client.views_publish(user_id=user_id, view=home_view(overview, now))
        return True
    except SlackApiError as exc:
        logger.warning("could not publish Home for %s: %s", user_id, exc.response.get("error"))
    except Exception:
        logger.exception("could not publish Home for %s", user_id)
    return False


class HomeRefresher:
    """Re-publishes Home for its recent openers after renewals. One per app (handlers.register_all makes it).

    Its one thread, started by the first renewal, runs refreshes one after another, off the request threads; the
    renewals that come while a refresh waits are folded into it. The thread is a daemon: a refresh is worth
    nothing once the process stops, so it never holds up a shutdown."""

    def __init__(self, *, deps: Deps, access: Access) -> None:
        self._deps, self._access = deps, access
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._client = None
        self._thread: threading.Thread | None = None

    def after_renewal(self, client) -> None:
        """Asks for a refresh (with the client of the request that renewed) and returns at once."""
        with self._lock:
            self._client = client
            self._wanted.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="home-refresh", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            with self._lock:
                self._wanted.clear()  # from here on, a new renewal needs a new refresh
                client = self._client
            self.refresh(client)

    def refresh(self, client) -> None:
        try:
            with session_scope(self._deps.engine) as session:
                users = store.recent_openers(session=session, since=self._deps.clock() - REFRESH_WITHIN,
                                             limit=REFRESH_MAX)
            for user_id in users:
                publish_home(client, deps=self._deps, access=self._access, user_id=user_id)
        except Exception:
            logger.exception("refreshing Home after a renewal failed")


def send_dm(client, user_id: str, text: str) -> None:
    """A direct message from the bot: where answers to clicks from Home go, since Home has no channel."""
    im = client.conversations_open(users=user_id)["channel"]["id"]
    client.chat_postMessage(channel=im, text=text)


def answer_list(*, deps: Deps, access: Access, user_id: str, tell: Callable[[str, list[dict] | None], None],
                group: str | None = None, page: int = 1) -> None:
    """`/renew-token list`: a page of the tokens this person may see (of one group, or all), by urgency, with
    days left (ephemeral)."""
    try:
        now = deps.clock()
        overview = overview_for(engine=deps.engine, people=access, user_id=user_id, now=now, limit=LIST_ROWS,
                                group=group, offset=(page - 1) * LIST_ROWS)
    except Exception:
        logger.exception("/renew-token list failed")
        tell(failure_text(), None)
        return
    tell(list_text(overview, now), list_blocks(overview, now))
