"""Slack listeners. Each module has register(app, *, deps); handlers never import the app."""

from __future__ import annotations

from slack_bolt import App

from handlers import add, attention, commands, events, home, notice_actions, options, platform_actions, views
from handlers.access import Access
from handlers.lookups import FormLookups
from renewbot.runtime.deps import Deps


def register_all(app: App, *, deps: Deps, admins: tuple[str, ...] = ()) -> None:
    """`admins`: who may register tokens (Settings.admins; empty: any full member)."""
    lookups = FormLookups(deps.engine)
    access = Access(app.client)
    refresher = home.HomeRefresher(deps=deps, access=access)  # Home after renewals, for its recent openers

    @app.middleware
    def _learn_team_and_share_client(context, next):
        # bolt's authorization already called auth.test: its team is the installation's (not the clicker's).
        result = context.authorize_result
        access.learn_team(getattr(result, "team_id", None) if result is not None else None)
        # bolt gives each request a new plain WebClient; listeners get the app's (serve's TimedWebClient, whose
        # calls /metrics counts) with the same retries. The bot token never changes, so one client serves all;
        # a request whose client bolt gave another token (a workflow step's) keeps its own.
        if context.client.token == app.client.token:
            context["client"] = app.client
        return next()

    commands.register(app, deps=deps, lookups=lookups, access=access, admins=admins)
    notice_actions.register(app, deps=deps, lookups=lookups, access=access)
    views.register(app, deps=deps, lookups=lookups, access=access, refresher=refresher)
    events.register(app, deps=deps)
    platform_actions.register(app, deps=deps, access=access)
    home.register(app, deps=deps, access=access)
    options.register(app, deps=deps, lookups=lookups, access=access)
    add.register(app, deps=deps, lookups=lookups, access=access, admins=admins)
    attention.register(app, deps=deps, lookups=lookups, access=access)
