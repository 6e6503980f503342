"""Every secret shape renewbot handles is redacted from logs, in every form a log line can take it."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from renewbot.runtime.logs import RedactingFormatter
from storage.db import make_engine

FERNET_KEY = Fernet.generate_key().decode()
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"  # Slack's shape: 32 hex digits, nothing to recognise
WEBHOOK_SECRET = "whsec-platform-shared-0042"
SHAPES = {
    "MWS token": "amzn.mws.1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
    "MWS token, upper case": "AMZN.MWS.1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D",
    "LWA refresh token": "Atzr|IwEBIAbcdefghijklmnop0123456789",
    "LWA refresh token, URL-encoded": "Atzr%7CIwEBIAbcdefghijklmnop0123456789",
    "LWA access token": "Atza|IwEBIQzyxwvutsrqp9876543210",
    "LWA client secret": "amzn1.oa2-cs.v1.3b9f0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d",
    "Slack bot token": "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
    "Slack app token": "xapp-1-A0123456789-1234567890123-abcdef0123456789",
    "Fernet ciphertext": Fernet(FERNET_KEY).encrypt(b"Atzr|inner").decode(),
    "Fernet key": FERNET_KEY,
    "signing secret (known value)": SIGNING_SECRET,
    "webhook secret (known value)": WEBHOOK_SECRET,
}


@pytest.fixture
def captured():
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    handler.setFormatter(RedactingFormatter("%(message)s", known=(SIGNING_SECRET, WEBHOOK_SECRET)))
    logger = logging.getLogger("renewbot.test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, records
    logger.removeHandler(handler)


def forms(logger, secret: str, engine) -> None:
    logger.info("as an argument: %s", secret)
    logger.info("in a repr: %r", {"token": secret, "nested": [secret]})
    logger.info(f"in the message itself: {secret} and again {secret}")
    try:
        raise ValueError(f"provider said no to {secret}")
    except ValueError:
        logger.exception("in an exception")
    try:
        with engine.connect() as conn:
            conn.execute(text("INSERT INTO no_such_table (secret) VALUES (:s)"), {"s": secret})
    except Exception:
        logger.exception("in a database error")


@pytest.mark.parametrize("shape", SHAPES)
def test_each_secret_shape_is_redacted_in_every_form(captured, tmp_path, shape):
    logger, records = captured
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    forms(logger, SHAPES[shape], engine)
    engine.dispose()
    assert len(records) == 5
    leaked = [r for r in records if SHAPES[shape] in r]
    # The count only: printing the record would print the secret.
    assert not leaked, f"{shape}: {len(leaked)} record(s) kept it"
    assert all("[redacted]" in r for r in records[:4])
    assert "SQL parameters hidden" in records[4]  # hide_parameters: nothing of a parameter reaches the text


def test_ordinary_text_is_left_alone():
    formatter = RedactingFormatter("%(message)s", known=(SIGNING_SECRET,))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token amazon-eu-sp-api expires %s, id %s", (
        "2026-12-01", "550e8400-e29b-41d4-a716-446655440000"), None)
    assert formatter.format(record) == (
        "token amazon-eu-sp-api expires 2026-12-01, id 550e8400-e29b-41d4-a716-446655440000")


def test_a_connector_signing_secret_is_redacted_by_value_in_every_command(tmp_path, monkeypatch, capsys):
    """Webhook secrets have no telling shape, so the CLI hands each stored connector's to the formatter."""
    import logging

    from renewbot.runtime.cli import main

    planted = "whsec-PLANTED-9f8e7d6c5b4a"
    inventory = tmp_path / "tokens.yml"
    inventory.write_text("connectors:\n  - id: hook\n    type: webhook\n    url: https://commerce.example/hook\n"
                         "    secret_env: HOOK_SECRET\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'r.db'}")
    monkeypatch.setenv("HOOK_SECRET", planted)
    assert main(["import", str(inventory)]) == 0
    assert main(["status"]) == 0
    logging.getLogger("renewbot.test").warning("a library's slip: %s", planted)
    err = capsys.readouterr().err
    assert planted not in err and "a library's slip: [redacted]" in err


@pytest.mark.parametrize("line,kept", [
    ("Client disconnected while serving /renew/Abc_def-GHIjklMNOpqrSTUvwxYZ0123456789abcdefg", "/renew/"),
    ("GET /oauth/amazon/callback?state=abcDEF123_-xyz&selling_partner_id=A1SELLER&spapi_oauth_code=RHxyz123",
     "selling_partner_id=A1SELLER"),
    ("GET /calendar.ics?key=rbk_abcdefghijklmnopqrstuvwxyz123 HTTP/1.1", "/calendar.ics?key="),
])
def test_one_time_ids_states_codes_and_keys_in_logged_urls_are_redacted(line, kept):
    """waitress logs the path of a request a client dropped: a private page's path carries its one-time id."""
    from renewbot.runtime.logs import redact
    out = redact(line)
    assert kept in out and "[redacted]" in out
    for secret in ("Abc_def-GHIjkl", "abcDEF123", "RHxyz123", "rbk_abcdef"):
        assert secret not in out


def test_waitress_logs_only_warnings():
    from renewbot.runtime.logs import configure_logging
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("waitress").level
    try:
        configure_logging(verbose=True)
        assert not logging.getLogger("waitress.channel").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        logging.getLogger("waitress").setLevel(saved[2])
