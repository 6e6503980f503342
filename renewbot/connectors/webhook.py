"""The `webhook` connector type: a signed JSON POST to the platform. See README "Connecting your platform"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from renewbot.connectors.base import Sender
from renewbot.connectors.fields import env_name_problem, unknown_fields
from renewbot.domain.urls import secure_url_problem

FIELDS = {"url", "secret_env"}


class WebhookType:
    name = "webhook"

    def check(self, config: Mapping[str, Any]) -> list[str]:
        problems = unknown_fields(config, FIELDS)
        found = (secure_url_problem(config.get("url"), "url"), env_name_problem(config.get("secret_env")))
        problems += [p for p in found if p]
        return problems

    def secret_env(self, config: Mapping[str, Any]) -> str | None:
        return config.get("secret_env")

    def sender(self, config: Mapping[str, Any], environ: Mapping[str, str]) -> Sender:
        raise NotImplementedError  # built in the connectors work (issue 10)


WEBHOOK = WebhookType()
