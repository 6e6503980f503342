"""manifest.yml is a valid Slack app manifest and declares exactly what renewbot uses.

The schema is Slack's app manifest JSON Schema (draft-07), vendored in
tests/vendor/slack-manifest-schema/ with its MIT licence and origin. A missing
schema is a failure, not a skip: otherwise the manifest would silently go unchecked.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST_PATH = REPO_ROOT / "manifest.yml"
SCHEMA_PATH = REPO_ROOT / "tests" / "vendor" / "slack-manifest-schema" / "manifest.schema.1.0.0.json"

# Exactly the bot scopes renewbot needs. Adding a scope to manifest.yml makes
# test_bot_scopes_are_exactly_what_the_bot_needs fail until this set is updated too:
# that is deliberate, so every new permission is a reviewed decision.
EXPECTED_BOT_SCOPES = {
    "chat:write",  # notices, thread replies, chat.update, chat.postEphemeral
    "commands",  # /renew-token
    "usergroups:read",  # usergroups.users.list to resolve owner groups
    "channels:history",  # conversations.history (include_all_metadata), public channels
    "groups:history",  # the same, private channels
    "users:read",  # users.info: guests and Slack Connect users act only where named
    "channels:read",  # conversations.members / users.conversations: tokens without owners, public channels
    "groups:read",  # the same, private channels
    "channels:join",  # conversations.join: a public channel that answered not_in_channel
    "im:write",  # conversations.open: a direct message to a token's owners when its channel is not found
}
# Exactly the events renewbot listens to.
EXPECTED_BOT_EVENTS = [
    "member_joined_channel",  # the bot added to a channel: post what failed there
    "app_home_opened",  # publish the Home tab
]

EVENTS_PATH = "/slack/events"


@pytest.fixture(scope="module")
def schema() -> dict:
    if not SCHEMA_PATH.is_file():
        pytest.fail(
            f"Slack manifest JSON Schema not found at {SCHEMA_PATH}; "
            "it is vendored in the repository: restore it from git instead of skipping this check.",
            pytrace=False,
        )
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


@pytest.fixture(scope="module")
def validator(schema: dict) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="module")
def manifest() -> dict:
    assert MANIFEST_PATH.is_file(), f"{MANIFEST_PATH} is missing"
    data = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "manifest.yml must be a YAML mapping"
    return data


def _errors(validator: jsonschema.Draft7Validator, instance: dict) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    ]


def test_manifest_validates_against_slack_schema(validator, manifest):
    errors = _errors(validator, manifest)
    assert not errors, "manifest.yml does not match the Slack manifest schema:\n" + "\n".join(errors)


def test_manifest_identity(manifest):
    assert manifest.get("_metadata", {}).get("major_version") == 1
    info = manifest["display_information"]
    assert info["name"] == "renewbot"
    # The schema spells this constraint as "regex", which JSON Schema ignores, so check it here.
    assert re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", info["background_color"])
    bot_user = manifest["features"]["bot_user"]
    assert bot_user["display_name"] == "renewbot"
    assert bot_user["always_online"] is True


def test_renew_token_command_is_declared(manifest):
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert "/renew-token" in commands, f"declared commands: {sorted(commands)}"
    assert commands["/renew-token"]["url"].endswith(EVENTS_PATH)


def test_interactivity_uses_the_same_endpoint(manifest):
    settings = manifest["settings"]
    interactivity = settings["interactivity"]
    assert interactivity["is_enabled"] is True
    command_url = next(
        c["url"] for c in manifest["features"]["slash_commands"] if c["command"] == "/renew-token"
    )
    assert interactivity["request_url"] == command_url
    assert interactivity["request_url"].endswith(EVENTS_PATH)


def test_events_are_exactly_what_the_bot_listens_to_on_the_same_endpoint(manifest):
    events = manifest["settings"]["event_subscriptions"]
    assert events["request_url"] == manifest["settings"]["interactivity"]["request_url"]
    assert events["bot_events"] == EXPECTED_BOT_EVENTS
    assert not events.get("user_events")


def test_home_tab_and_options_loads_are_declared(manifest):
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    # Clicks from Home are answered by direct message: the Messages tab must exist for those to be seen.
    assert home["messages_tab_enabled"] is True
    interactivity = manifest["settings"]["interactivity"]
    # External selects (token, account and user-group pickers) load their options from this URL.
    assert interactivity["message_menu_options_url"] == interactivity["request_url"]


def test_bot_scopes_are_exactly_what_the_bot_needs(manifest):
    bot = manifest["oauth_config"]["scopes"]["bot"]
    assert len(bot) == len(set(bot)), f"duplicate bot scopes: {bot}"
    assert set(bot) == EXPECTED_BOT_SCOPES, (
        f"unexpected: {sorted(set(bot) - EXPECTED_BOT_SCOPES)}, "
        f"missing: {sorted(EXPECTED_BOT_SCOPES - set(bot))}"
    )
    assert not manifest["oauth_config"]["scopes"].get("bot_optional")


def test_no_user_scopes(manifest):
    scopes = manifest["oauth_config"]["scopes"]
    assert not scopes.get("user")
    assert not scopes.get("user_optional")


def _drop_name(m: dict) -> None:
    del m["display_information"]["name"]


def _drop_command_description(m: dict) -> None:
    del m["features"]["slash_commands"][0]["description"]


def _unknown_top_level_key(m: dict) -> None:
    m["not_a_manifest_field"] = True


def _interactivity_url_not_http(m: dict) -> None:
    m["settings"]["interactivity"]["request_url"] = "renewbot.example.com/slack/events"


@pytest.mark.parametrize(
    ("breakage", "expected_path", "expected_message"),
    [
        (_drop_name, "display_information", "'name' is a required property"),
        (_drop_command_description, "features/slash_commands/0", "'description' is a required property"),
        (_unknown_top_level_key, "<root>", "not_a_manifest_field"),
        (_interactivity_url_not_http, "settings/interactivity/request_url", "does not match"),
    ],
    ids=["no-name", "command-without-description", "unknown-key", "bad-url"],
)
def test_broken_manifest_fails_validation(validator, manifest, breakage, expected_path, expected_message):
    broken = copy.deepcopy(manifest)
    breakage(broken)
    errors = _errors(validator, broken)
    assert errors, "the validator accepted a broken manifest"
    assert any(e.startswith(f"{expected_path}: ") and expected_message in e for e in errors), errors
    # The original stays valid: the failure comes from the breakage alone.
    assert not _errors(validator, manifest)
