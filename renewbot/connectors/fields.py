"""Checks shared by connector types for their import-file fields. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")


def unknown_fields(config: Mapping[str, Any], known: set[str]) -> list[str]:
    return [f"unknown field {key!r}" for key in sorted(set(config) - known, key=repr)]


def env_name_problem(value: Any, field: str = "secret_env") -> str | None:
    if value is None:
        return f"{field} is missing (the environment variable that holds the signing secret)"
    if not isinstance(value, str) or not ENV_NAME_RE.fullmatch(value):
        return f"{field} must name an environment variable (A-Z, 0-9 and _), not hold the secret itself"
    return None
