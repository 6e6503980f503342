"""Which connector types exist: the built-in ones, and those plugin packages add through entry points."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.metadata import entry_points

from renewbot.connectors.base import ConnectorType
from renewbot.connectors.command import COMMAND
from renewbot.connectors.webhook import WEBHOOK

logger = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "renewbot.connectors"
BUILTIN_TYPES: dict[str, ConnectorType] = {t.name: t for t in (WEBHOOK, COMMAND)}


def connector_types() -> Mapping[str, ConnectorType]:
    """Built-in types and every plugin type; a plugin cannot replace a built-in type, and one that fails to
    load is logged and left out (its connectors are then refused by name at import)."""
    found = dict(BUILTIN_TYPES)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN_TYPES:
            logger.warning("connector plugin %s tries to replace the built-in type %r: ignored", ep.value, ep.name)
            continue
        try:
            loaded = ep.load()
        except Exception:
            logger.exception("connector plugin %s (%s) failed to load", ep.name, ep.value)
            continue
        kind = loaded() if isinstance(loaded, type) else loaded
        if getattr(kind, "name", None) != ep.name:
            logger.warning("connector plugin %s: its name %r differs from the entry point's: ignored", ep.value,
                           getattr(kind, "name", None))
            continue
        found[ep.name] = kind
    return found
