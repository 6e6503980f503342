"""Who may renew a token: its owners (users, or members of user groups), or anyone when it has none."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

logger = logging.getLogger(__name__)


def may_renew(client: WebClient, owners: Sequence[str], user_id: str) -> bool:
    if not owners or user_id in owners:
        return True
    for group in (o for o in owners if o.startswith("S")):
        try:
            members = client.usergroups_users_list(usergroup=group).get("users") or []
        except SlackApiError as exc:
            # Deny rather than guess: a group we cannot read grants nothing.
            logger.warning("cannot read user group %s: %s", group, exc.response.get("error"))
            continue
        if user_id in members:
            return True
    return False
