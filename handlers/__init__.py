"""Slack listeners. Each module has register(app, *, deps); handlers never import the app."""

from __future__ import annotations

from slack_bolt import App

from handlers import commands, notice_actions, views
from handlers.lookups import FormLookups
from renewbot.runtime.deps import Deps


def register_all(app: App, *, deps: Deps) -> None:
    lookups = FormLookups(deps.engine)
    commands.register(app, deps=deps, lookups=lookups)
    notice_actions.register(app, deps=deps, lookups=lookups)
    views.register(app, deps=deps, lookups=lookups)
