"""config.Settings.from_env and crypto.SecretBox."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from renewbot.crypto import SecretBox
from renewbot.errors import ConfigError
from renewbot.runtime.config import Settings

BOT_TOKEN = "xoxb-1111-2222-bottokenvalue"
SIGNING = "8f14e45fceea167a5a36dedd4bea2543"
APP_TOKEN = "xapp-1-A111-2222-apptokenvalue"
DB_PASSWORD = "s3cr3t-db-pass"


# --- Settings ------------------------------------------------------------------------

def test_defaults():
    s = Settings.from_env({}, env_file=None)
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.database_url.startswith("sqlite:///")
    assert "data/" in s.database_url
    assert s.port == 3000
    assert s.token_encryption_keys == ()
    assert s.slack_bot_token is None and s.slack_signing_secret is None and s.slack_app_token is None
    assert s.socket_mode is False


def test_values_from_environ():
    s = Settings.from_env({
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING, "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": "http://127.0.0.1:9999/api", "DATABASE_URL": "sqlite:////tmp/x.db", "PORT": "8080",
    }, env_file=None)
    assert s.slack_bot_token == BOT_TOKEN
    assert s.slack_signing_secret == SIGNING
    assert s.socket_mode is True
    assert s.slack_api_url == "http://127.0.0.1:9999/api/"  # a base URL always ends in /
    assert s.database_url == "sqlite:////tmp/x.db"
    assert s.port == 8080


def test_encryption_keys_are_split_by_comma_newest_first():
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    s = Settings.from_env({"TOKEN_ENCRYPTION_KEYS": f" {k1} ,{k2},, "}, env_file=None)
    assert s.token_encryption_keys == (k1, k2)


def test_bad_port_is_a_config_error():
    with pytest.raises(ConfigError):
        Settings.from_env({"PORT": "three thousand"}, env_file=None)


def test_blank_values_count_as_unset():
    s = Settings.from_env({"SLACK_APP_TOKEN": "  ", "PORT": "", "SLACK_API_URL": ""}, env_file=None)
    assert s.socket_mode is False and s.port == 3000 and s.slack_api_url == "https://slack.com/api/"


def test_repr_and_str_never_show_secrets():
    key = Fernet.generate_key().decode()
    s = Settings.from_env({
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING, "SLACK_APP_TOKEN": APP_TOKEN,
        "TOKEN_ENCRYPTION_KEYS": key, "DATABASE_URL": f"postgresql://bot:{DB_PASSWORD}@db/renewbot",
    }, env_file=None)
    for shown in (repr(s), str(s), f"{s}", f"{s!r}", repr([s])):
        for secret in (BOT_TOKEN, SIGNING, APP_TOKEN, key, DB_PASSWORD):
            assert secret not in shown
    assert "slack.com" in repr(s)  # still useful in a log line


def test_env_file_is_read(tmp_path):
    env = tmp_path / ".env"
    env.write_text(f"SLACK_BOT_TOKEN={BOT_TOKEN}\nPORT=4000\nDATABASE_URL=sqlite:////tmp/from-file.db\n")
    s = Settings.from_env({}, env_file=env)
    assert s.slack_bot_token == BOT_TOKEN
    assert s.port == 4000
    assert s.database_url == "sqlite:////tmp/from-file.db"


def test_environment_overrides_env_file(tmp_path):
    env = tmp_path / ".env"
    env.write_text(f"SLACK_BOT_TOKEN={BOT_TOKEN}\nPORT=4000\n")
    s = Settings.from_env({"PORT": "5000"}, env_file=str(env))
    assert s.port == 5000
    assert s.slack_bot_token == BOT_TOKEN  # not overridden: still from the file


def test_missing_env_file_is_fine(tmp_path):
    assert Settings.from_env({"PORT": "1234"}, env_file=tmp_path / "nope.env").port == 1234


# --- SecretBox ---------------------------------------------------------------------------

PLAIN = "amzn.mws.1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"


def test_round_trip(fernet_key):
    box = SecretBox((fernet_key,))
    assert box.ready
    ciphertext = box.encrypt(PLAIN)
    assert box.decrypt(ciphertext) == PLAIN
    assert box.can_decrypt(ciphertext)


def test_round_trip_unicode(fernet_key):
    box = SecretBox([fernet_key])
    assert box.decrypt(box.encrypt("pässwörd—🔑")) == "pässwörd—🔑"


def test_ciphertext_does_not_contain_the_plaintext(fernet_key):
    box = SecretBox((fernet_key,))
    ciphertext = box.encrypt(PLAIN)
    assert PLAIN not in ciphertext
    assert "1a2b3c4d" not in ciphertext
    assert ciphertext != box.encrypt(PLAIN)  # fresh IV each time


def test_rotation_new_box_reads_old_data(fernet_key):
    old_box = SecretBox((fernet_key,))
    old_ciphertext = old_box.encrypt(PLAIN)
    new_key = Fernet.generate_key().decode()
    rotated = SecretBox((new_key, fernet_key))
    assert rotated.decrypt(old_ciphertext) == PLAIN
    # new data is written with the newest key: the new key alone can read it
    fresh = rotated.encrypt(PLAIN)
    assert SecretBox((new_key,)).decrypt(fresh) == PLAIN
    assert not old_box.can_decrypt(fresh)


def test_wrong_key_cannot_decrypt(fernet_key):
    ciphertext = SecretBox((fernet_key,)).encrypt(PLAIN)
    other = SecretBox((Fernet.generate_key().decode(),))
    with pytest.raises(ConfigError) as exc:
        other.decrypt(ciphertext)
    assert PLAIN not in str(exc.value)
    assert not other.can_decrypt(ciphertext)
    assert not other.can_decrypt("not-a-fernet-token")


@pytest.mark.parametrize("bad", ["not-a-key", "c2hvcnQ=", "!" * 44])
def test_bad_key_is_a_config_error_that_does_not_show_the_key(bad, fernet_key):
    for keys in ((bad,), (fernet_key, bad)):
        with pytest.raises(ConfigError) as exc:
            SecretBox(keys)
        message = str(exc.value) + repr(exc.value)
        assert bad not in message
        assert fernet_key not in message
        assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_no_keys_is_a_config_error_on_use():
    box = SecretBox(())
    assert not box.ready
    with pytest.raises(ConfigError):
        box.encrypt(PLAIN)
    with pytest.raises(ConfigError):
        box.decrypt("gAAAAA")


def test_settings_keys_feed_the_box():
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old = SecretBox((k2,)).encrypt(PLAIN)
    s = Settings.from_env({"TOKEN_ENCRYPTION_KEYS": f"{k1},{k2}"}, env_file=None)
    assert SecretBox(s.token_encryption_keys).decrypt(old) == PLAIN


def test_admins_are_users_and_groups_split_by_comma():
    s = Settings.from_env({"RENEWBOT_ADMINS": " U0ADMIN, S0OPS ,,W0GRID"}, env_file=None)
    assert s.admins == ("U0ADMIN", "S0OPS", "W0GRID")
    assert Settings.from_env({}, env_file=None).admins == ()


@pytest.mark.parametrize("bad", ["C0CHANNEL", "@maria", "u0lower", "*"])
def test_an_admin_that_is_no_user_or_group_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="RENEWBOT_ADMINS"):
        Settings.from_env({"RENEWBOT_ADMINS": f"U0OK,{bad}"}, env_file=None)


def test_attention_defaults_and_values():
    a = Settings.from_env({}, env_file=None).attention
    assert (a.escalate_after_hours, a.reminder_hour, a.reminder_tz) == (4.0, 9, "UTC")
    assert (a.digest_day, a.digest_hour, a.digest_minute, a.digest_tz, a.allow_now) == (0, 9, 0, "UTC", False)
    a = Settings.from_env({"ESCALATE_AFTER_HOURS": "1.5", "REMINDER_HOUR": "17", "REMINDER_TZ": "Europe/Berlin",
                           "DIGEST_DAY": "Friday", "DIGEST_TIME": "7:30", "DIGEST_TZ": "America/New_York",
                           "RENEWBOT_ALLOW_NOW": "1"}, env_file=None).attention
    assert (a.escalate_after_hours, a.reminder_hour, a.reminder_tz) == (1.5, 17, "Europe/Berlin")
    assert (a.digest_day, a.digest_hour, a.digest_minute, a.digest_tz, a.allow_now) == (
        4, 7, 30, "America/New_York", True)


@pytest.mark.parametrize("name,value", [
    ("ESCALATE_AFTER_HOURS", "soon"), ("ESCALATE_AFTER_HOURS", "-1"), ("REMINDER_HOUR", "24"),
    ("REMINDER_HOUR", "９"), ("REMINDER_TZ", "Mars/Olympus"), ("REMINDER_TZ", "../etc/passwd"),
    ("DIGEST_DAY", "funday"), ("DIGEST_TIME", "25:00"), ("DIGEST_TIME", "9am"), ("DIGEST_TZ", "Nowhere"),
])
def test_bad_attention_settings_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value}, env_file=None)


def test_amazon_authorization_without_an_lwa_client_is_refused_at_start():
    with pytest.raises(ConfigError, match="AMAZON_LWA_CLIENT_ID"):
        Settings.from_env({"PUBLIC_URL": "https://renewbot.example.com", "AMAZON_SPAPI_APP_ID": "amzn1.sp.solution.x"},
                          env_file=None)
    entry = Settings.from_env({"PUBLIC_URL": "https://renewbot.example.com/", "AMAZON_SPAPI_APP_ID": "amzn1.x",
                               "AMAZON_LWA_CLIENT_ID": "amzn1.application-oa2-client.x"}, env_file=None).entry
    assert (entry.public_url, entry.secret_entry) == ("https://renewbot.example.com", "page")


@pytest.mark.parametrize("environ,fragment", [
    ({"SECRET_ENTRY": "page"}, "needs PUBLIC_URL"),
    ({"PUBLIC_URL": "http://renewbot.example.com"}, "PUBLIC_URL"),
    ({"PUBLIC_URL": "https://x.example", "SECRET_ENTRY": "slack"}, "SECRET_ENTRY"),
    ({"PUBLIC_URL": "https://x.example/?a=1"}, "without a query string or fragment"),
    ({"PUBLIC_URL": "https://x.example/base#top"}, "without a query string or fragment"),
])
def test_bad_secret_entry_settings_are_refused(environ, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Settings.from_env(environ, env_file=None)
