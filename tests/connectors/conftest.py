"""Shared pieces of the connector tests: a stand-in platform, a renewal body holding a planted secret."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from renewbot.connectors.base import EVENT_RENEWED, DeliveryRequest
from renewbot.connectors.payload import renewed_body
from tests.support.platform import PlatformStandIn

PLANTED = "amzn.mws.planted-4b1d-secret-0000c0ffee"
WEBHOOK_SECRET = "whsec-connector-test-5e11"
ACCOUNTS = [{"id": "amazon-uk", "name": "Amazon UK", "enabled": True, "fetch_orders": True},
            {"id": "amazon-de", "name": "Amazon DE", "enabled": True, "fetch_orders": False}]


def renewal_request(delivery_id: str = "dlv-1", secret: str = PLANTED) -> DeliveryRequest:
    body = renewed_body(delivery_id=delivery_id, renewal_id=12, occurred_at=datetime(2026, 11, 27, 10, tzinfo=UTC),
                        renewed_by="U0123", token_id="amazon-eu-mws", kind="amazon-mws", name="Amazon EU MWS",
                        app_id="532089569783", secret=secret, expires_at=datetime(2027, 11, 27, tzinfo=UTC),
                        accounts=ACCOUNTS)
    return DeliveryRequest(EVENT_RENEWED, delivery_id, body)


@pytest.fixture
def platform():
    with PlatformStandIn(secret=WEBHOOK_SECRET) as stand_in:
        yield stand_in
