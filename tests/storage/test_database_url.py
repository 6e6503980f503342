"""DATABASE_URL's query parameters reach the driver as written (TLS to a PostgreSQL over the network)."""

from __future__ import annotations

from storage.db import make_engine


def test_sslmode_and_its_certificate_pass_through_to_psycopg():
    engine = make_engine("postgresql://renewbot@db.internal:5432/renewbot"
                         "?sslmode=verify-full&sslrootcert=/etc/ssl/certs/db-ca.pem")
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    assert kwargs["sslmode"] == "verify-full" and kwargs["sslrootcert"] == "/etc/ssl/certs/db-ca.pem"
    assert engine.url.drivername == "postgresql+psycopg" and kwargs["host"] == "db.internal"
    engine.dispose()
