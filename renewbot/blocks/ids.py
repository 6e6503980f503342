"""Every action, block and callback ID the bot sends to Slack and listens for."""

from renewbot.domain import validation as _fields

# Buttons on a notice
RENEW_BUTTON = "renew_open"
STEPS_BUTTON = "renew_steps"
SETTINGS_BUTTON = "open_settings"
NOTICE_ACTIONS_BLOCK = "notice_actions"

# The renewal modal
RENEW_MODAL = "renew_modal"
# Input blocks are named after the fields validation reports on, so its errors land under their input.
TOKEN_BLOCK = _fields.TOKEN_FIELD
TOKEN_SELECT = "token_select"
SECRET_BLOCK = _fields.SECRET_FIELD
SECRET_INPUT = "secret_input"
EXPIRY_BLOCK = _fields.EXPIRY_FIELD
EXPIRY_INPUT = "expiry_input"
# Accounts come in groups of 10 (Slack's checkbox limit): "reenable:0", "reenable:1", ...
REENABLE_BLOCK_PREFIX = _fields.REENABLE_FIELD_PREFIX
NOFETCH_BLOCK_PREFIX = _fields.NOFETCH_FIELD_PREFIX
ACCOUNTS_INPUT = "accounts_input"

# "Done in the platform" on a renewal confirmation without a connector (its value: the renewal id)
PLATFORM_DONE_BUTTON = "platform_done"
PLATFORM_DONE_BLOCK = "platform_done"

# Slash command
RENEW_COMMAND = "/renew-token"

# Message metadata event type: finds our own notices in channel history.
NOTICE_EVENT_TYPE = "renewbot_notice"
