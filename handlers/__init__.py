"""Slack listeners. Each module has register(app, *, deps); handlers never import the app."""

from __future__ import annotations

from slack_bolt import App

from deps import Deps
from handlers import commands, notice_actions, views


def register_all(app: App, *, deps: Deps) -> None:
    commands.register(app, deps=deps)
    notice_actions.register(app, deps=deps)
    views.register(app, deps=deps)
