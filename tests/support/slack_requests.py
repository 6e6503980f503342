"""Slack's inbound request builders live in the package (the sandbox sends them too); tests import them from here."""

from renewbot.sandbox.slack_requests import *  # noqa: F403
from renewbot.sandbox.slack_requests import (  # noqa: F401
    API_APP_ID,
    TEAM,
    VERIFICATION_TOKEN,
    app_home_opened_body,
    block_actions_payload,
    block_suggestion_payload,
    event_body,
    form_payload_body,
    home_action_payload,
    post_signed,
    sign,
    slash_command_body,
    state_values,
    view_submission_payload,
)
