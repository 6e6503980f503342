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

# Large forms: past the checkbox groups Slack allows, accounts are picked in a searchable multi-select
# (its options come from the options load request, see ACCOUNT_SEARCH).
REENABLE_ALL_BLOCK = _fields.REENABLE_ALL_FIELD  # one box, "Re-enable all N accounts", ticked by default
REENABLE_SELECT_BLOCK = _fields.REENABLE_PICK_FIELD
NOFETCH_SELECT_BLOCK = _fields.NOFETCH_PICK_FIELD
ACCOUNTS_SELECT = "accounts_select"

# Options loads (block_suggestion): the action_id of an external select says what it searches.
TOKEN_SEARCH = TOKEN_SELECT  # the renewal form's token picker (tokens this person may renew)
ACCOUNT_SEARCH = ACCOUNTS_SELECT  # accounts, by name or id
OWNER_GROUP_SEARCH = "owner_groups_select"  # user groups (usergroups.list): Block Kit has no group select

# The App Home tab
HOME_RENEW_BUTTON = RENEW_BUTTON  # the same Renew as on a notice; its click has no channel (answers go to a DM)
HOME_BLOCK_PREFIX = "home:"

# `/renew-token add`: registering a token
ADD_MODAL = "add_token_modal"
ADD_NAME_BLOCK = "add_name"
ADD_NAME_INPUT = "add_name_input"
ADD_ID_BLOCK = "add_id"
ADD_ID_INPUT = "add_id_input"
ADD_KIND_BLOCK = "add_kind"
ADD_KIND_INPUT = "add_kind_input"
ADD_EXPIRY_BLOCK = "add_expiry"
ADD_EXPIRY_INPUT = "add_expiry_input"
ADD_CHANNEL_BLOCK = "add_channel"
ADD_CHANNEL_INPUT = "add_channel_input"
ADD_OWNER_USERS_BLOCK = "add_owner_users"
ADD_OWNER_USERS_INPUT = "add_owner_users_input"
ADD_OWNER_GROUPS_BLOCK = "add_owner_groups"
ADD_OWNER_GROUPS_INPUT = OWNER_GROUP_SEARCH
ADD_ACCOUNTS_BLOCK = "add_accounts"
ADD_ACCOUNTS_INPUT = ACCOUNT_SEARCH
ADD_MARKETPLACE_BLOCK = "add_marketplace"
ADD_MARKETPLACE_INPUT = "add_marketplace_input"

# Slash command and its subcommands (`/renew-token <id or name>` opens the form, as before)
RENEW_COMMAND = "/renew-token"
SUBCOMMAND_LIST = "list"
SUBCOMMAND_HELP = "help"
SUBCOMMAND_ADD = "add"

# Message metadata event type: finds our own notices in channel history.
NOTICE_EVENT_TYPE = "renewbot_notice"
# ... and our own follow-ups (escalations, reminders) and weekly digests.
FOLLOWUP_EVENT_TYPE = "renewbot_followup"
DIGEST_EVENT_TYPE = "renewbot_digest"

# Attention on a notice (issue 12): "I'm on it", snooze, mute. Values name the notice (see blocks/attention.py).
ACK_BUTTON = "notice_ack"
SNOOZE_SELECT = "notice_snooze"
MUTE_BUTTON = "notice_mute"
UNMUTE_BUTTON = "notice_unmute"
MUTE_MODAL = "mute_modal"
MUTE_REASON_BLOCK = "mute_reason"
MUTE_REASON_INPUT = "mute_reason_input"
MUTE_TEXT_BLOCK = "mute_text"
MUTE_TEXT_INPUT = "mute_text_input"

# Issue 14: the renewal form turned into Amazon's authorization link (a url button: Slack opens it, we only ack).
AUTHORIZE_BUTTON = "authorize_with_amazon"
AUTHORIZE_VIEW = "authorize_with_amazon_view"  # no submit: the link is the only way on
# ... and into the private page's one-time link (the secret is entered there, not in Slack).
SECRET_LINK_BUTTON = "open_secret_page"
SECRET_LINK_VIEW = "secret_page_link_view"
