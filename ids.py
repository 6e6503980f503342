"""Every action, block and callback ID the bot sends to Slack and listens for."""

# Buttons on a notice
RENEW_BUTTON = "renew_open"
STEPS_BUTTON = "renew_steps"
SETTINGS_BUTTON = "open_settings"
NOTICE_ACTIONS_BLOCK = "notice_actions"

# The renewal modal
RENEW_MODAL = "renew_modal"
TOKEN_BLOCK = "token"
TOKEN_SELECT = "token_select"
SECRET_BLOCK = "secret"
SECRET_INPUT = "secret_input"
EXPIRY_BLOCK = "expiry"
EXPIRY_INPUT = "expiry_input"
# Accounts come in groups of 10 (Slack's checkbox limit): "reenable:0", "reenable:1", ...
REENABLE_BLOCK_PREFIX = "reenable:"
NOFETCH_BLOCK_PREFIX = "nofetch:"
ACCOUNTS_INPUT = "accounts_input"

# Slash command
RENEW_COMMAND = "/renew-token"

# Message metadata event type: finds our own notices in channel history.
NOTICE_EVENT_TYPE = "renewbot_notice"
