"""Reading an import file: YAML to entries with their line numbers, checked as they are read.

A file may hold a million tokens, so it is read as a stream (libyaml's parser, one
section entry at a time, each checked as it is read and then dropped); unusual
documents (anchors, merges, several documents) are read whole the old way. Either
way the problems and their lines are the same.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode, SequenceNode
from yaml.resolver import Resolver

from renewbot.domain.inventory import SECTIONS, Inventory, InventoryChecker, check_inventory
from renewbot.errors import ImportFileError

try:  # libyaml's parser: several times faster than PyYAML's own
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml: the same, slower
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]


def _timestamp(constructor, node):
    """PyYAML raises a bare ValueError for 2027-02-30; make it a YAML error with a line."""
    try:
        return SafeConstructor.construct_yaml_timestamp(constructor, node)
    except (ValueError, AttributeError, TypeError, OverflowError):
        raise ConstructorError(None, None, f"{node.value!r} is not a real date", node.start_mark) from None


class _Loader(_BaseLoader):
    """libyaml's events, PyYAML's own composer (its messages, its anchors) and safe constructor."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.anchors: dict = {}

    get_single_node = Composer.get_single_node
    compose_document = Composer.compose_document
    compose_node = Composer.compose_node
    compose_scalar_node = Composer.compose_scalar_node
    compose_sequence_node = Composer.compose_sequence_node
    compose_mapping_node = Composer.compose_mapping_node


class _Replay(Composer, SafeConstructor, Resolver):
    """Composes and constructs one node from events already read: the exact PyYAML path, for the entries the
    fast path leaves alone (anchors, aliases, tags, merge keys, complex keys, deep nesting)."""

    def __init__(self) -> None:
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.events: deque = deque()

    def check_event(self, *choices) -> bool:
        return bool(self.events) and (not choices or isinstance(self.events[0], choices))

    def peek_event(self):
        return self.events[0]

    def get_event(self):
        return self.events.popleft()

    def node(self, events: list):
        self.events.extend(events)
        return self.compose_node(None, None)


for _cls in (_Loader, _Replay):
    _cls.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


class _Slow(Exception):
    """This node needs PyYAML's composer and constructor (_Replay)."""


class _Fallback(Exception):
    """This document needs to be read whole (not a mapping at the top, a repeated or merged section, ...)."""


_STR = "tag:yaml.org,2002:str"
# Tags whose constructors need nothing but the scalar: built directly, without a node tree.
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "timestamp"))
_FAST_DEPTH = 16  # deeper entries go the PyYAML way, which says when they are too deep
_NO_KEY = object()


class _Stream:
    """Reads a document whose top is a mapping one section entry at a time, with that entry's line.

    The values are what PyYAML's safe loader gives for the same text (the same resolver and constructors;
    anything out of the ordinary is handed to them whole), without keeping a node tree of the whole file.
    """

    def __init__(self, stream) -> None:
        self.loader = _Loader(stream)
        self.replay = _Replay()
        resolvers = self.loader.yaml_implicit_resolvers
        # Plain scalars whose first character no implicit resolver looks at are text: no regex to try.
        self.resolved_first = {c for c in resolvers if c}
        self.always_resolve = None in resolvers
        self.constructors = self.loader.yaml_constructors
        self.known: dict[str, Any] = {}  # plain scalars already resolved (numbers, dates, booleans): immutable
        self.error: yaml.YAMLError | None = None  # the first constructor error: reported once parsing is done

    def close(self) -> None:
        self.loader.dispose()

    # --- one node --------------------------------------------------------------------------------

    def events(self) -> tuple[list, bool]:
        """The next node's events, and whether it needs the PyYAML path."""
        get = self.loader.get_event
        first = get()
        kind = type(first)
        if kind is ScalarEvent:
            return [first], first.anchor is not None or (first.tag is not None and first.tag != "!")
        if kind is AliasEvent:
            return [first], True
        events = [first]
        slow = first.anchor is not None or first.tag is not None
        depth = 1
        append = events.append
        while depth:
            event = get()
            append(event)
            kind = type(event)
            if kind is ScalarEvent:
                if event.anchor is not None or (event.tag is not None and event.tag != "!"):
                    slow = True
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                depth -= 1
            elif kind is AliasEvent:
                slow = True
            else:
                depth += 1
                slow = slow or event.anchor is not None or event.tag is not None or depth > _FAST_DEPTH
        return events, slow

    def value(self, events: list, slow: bool) -> tuple[Any, Any]:
        """(value, node): the node only when PyYAML's composer made one. After a constructor error, only
        composes (so a later syntax error still wins, as when the whole tree was composed first)."""
        if not slow and self.error is None:
            try:
                return self.build(events), None
            except _Slow:
                pass
            except ConstructorError as exc:
                self.error = exc
                return None, None
        node = self.replay.node(events)
        if self.error is not None:
            return None, node
        try:
            return self.replay.construct_document(node), node
        except ConstructorError as exc:
            self.error = exc
            return None, node

    def scalar(self, event) -> Any:
        value = event.value
        if not event.implicit[0] or (value and not self.always_resolve and value[0] not in self.resolved_first):
            return value
        known = self.known.get(value)
        if known is not None:
            return known
        tag = self.loader.resolve(ScalarNode, value, event.implicit)
        if tag == _STR:
            return value
        if tag not in _PLAIN_TAGS:
            raise _Slow
        result = self.constructors[tag](self.loader, ScalarNode(tag, value, event.start_mark, event.end_mark,
                                                                event.style))
        if result is not None and len(value) <= 40 and len(self.known) < 50_000:
            self.known[value] = result
        return result

    def build(self, events: list) -> Any:
        """The value of a node without anchors, aliases or tags, straight from its events."""
        scalar = self.scalar
        stack: list = []
        current: Any = None
        key: Any = _NO_KEY
        for event in events:
            kind = type(event)
            if kind is ScalarEvent:
                if key is _NO_KEY and type(current) is dict:
                    key = scalar(event)
                    continue
                value = scalar(event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if key is _NO_KEY and type(current) is dict:
                    raise _Slow  # a mapping or a list as a key
                stack.append((current, key))
                current, key = ({} if kind is MappingStartEvent else []), _NO_KEY
                continue
            else:
                value = current
                current, key = stack.pop()
            if current is None:
                return value
            if type(current) is list:
                current.append(value)
            else:
                current[key] = value
                key = _NO_KEY
        raise _Slow  # not reached: a node's events end with its value

    # --- the document ----------------------------------------------------------------------------

    def read(self, checker: InventoryChecker) -> None:
        """Feeds every entry to `checker`; raises _Fallback when the document is not the usual shape."""
        loader = self.loader
        loader.get_event()  # stream start
        if loader.check_event(StreamEndEvent):
            raise _Fallback
        loader.get_event()  # document start
        root = loader.peek_event()
        if type(root) is not MappingStartEvent or root.anchor is not None or root.tag is not None:
            raise _Fallback
        loader.get_event()
        seen: set = set()
        while not loader.check_event(MappingEndEvent):
            events, slow = self.events()
            if slow or len(events) != 1:
                raise _Fallback  # an anchored, tagged or complex key
            try:
                key = self.scalar(events[0]) if self.error is None else events[0].value
            except _Slow:
                raise _Fallback from None  # a merge key (<<) and the like
            if key in seen:
                raise _Fallback  # the last one wins, the lines come from the first: read it whole
            seen.add(key)
            if key in SECTIONS and type(loader.peek_event()) is SequenceStartEvent:
                start = loader.peek_event()
                if start.anchor is None and start.tag is None:
                    self.section(key, checker)
                    continue
            value, node = self.value(*self.events())
            if key not in SECTIONS:
                checker.unknown_section(key)
            elif not isinstance(value or [], list):
                checker.not_a_list(key)
            elif value and self.error is None:
                lines = [item.start_mark.line + 1 for item in node.value] if isinstance(node, SequenceNode) else []
                for index, item in enumerate(value):
                    checker.entry(key, index, item, lines[index] if index < len(lines) else None)
        loader.get_event()  # the mapping's end
        if type(loader.get_event()) is not DocumentEndEvent or not loader.check_event(StreamEndEvent):
            raise _Fallback  # more than one document: the whole-document reader says so
        if self.error is not None:
            raise self.error

    def section(self, section: str, checker: InventoryChecker) -> None:
        loader = self.loader
        loader.get_event()  # the list's start
        index = 0
        while not loader.check_event(SequenceEndEvent):
            events, slow = self.events()
            value, node = self.value(events, slow)
            if self.error is None:
                # An alias's line is that of the node it names, as the node tree had it.
                checker.entry(section, index, value, (events[0] if node is None else node).start_mark.line + 1)
            index += 1
        loader.get_event()


def _readable(path: Path) -> None:
    """What read_text would refuse (missing, a folder, not UTF-8), refused the same way, without holding the text."""
    try:
        decoder = codecs.getincrementaldecoder("utf-8")()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(str(path), [f"cannot read the file ({exc.__class__.__name__})"]) from None


@contextmanager
def _reading(path: Path) -> Iterator[Any]:
    """The file as text, its YAML and read errors made ImportFileErrors with a line."""
    try:
        with path.open(encoding="utf-8") as f:
            yield f
    except RecursionError:
        raise ImportFileError(str(path), ["the YAML is nested too deeply to be an import file"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "parse error"
        raise ImportFileError(str(path), [f"{where}not valid YAML ({problem})"]) from None
    except OSError as exc:
        raise ImportFileError(str(path), [f"cannot read the file ({exc.__class__.__name__})"]) from None


def _read(path: Path, checker: InventoryChecker) -> bool:
    """Streams the file into `checker`; False when it has to be read whole instead."""
    try:
        with _reading(path) as f:
            stream = _Stream(f)
            try:
                stream.read(checker)
            finally:
                stream.close()
    except _Fallback:
        return False
    return True


def _load(path: Path) -> tuple[Any, Any]:
    """The data and its node tree, so errors can name a line: for documents of an unusual shape."""
    with _reading(path) as f:
        loader = _Loader(f)
        try:
            node = loader.get_single_node()
            return (loader.construct_document(node) if node is not None else None), node
        finally:
            loader.dispose()


def _item_lines(root_node: Any, section: str) -> list[int]:
    if not isinstance(root_node, yaml.MappingNode):
        return []
    for key, value in root_node.value:
        if getattr(key, "value", None) == section and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def read_inventory(path: Path, *, known_accounts: set[str], known_kinds: set[str],
                   known_connectors: set[str] = frozenset(),
                   connector_types: Mapping[str, Any] | None = None) -> tuple[Inventory, list[str]]:
    """The checked inventory in the file and every problem in it; an unreadable file raises ImportFileError.

    `known_*` are the ids already stored, which the file's tokens may name too; `connector_types` check
    the `connectors:` entries' own fields."""
    _readable(path)
    known = dict(known_accounts=known_accounts, known_kinds=known_kinds, known_connectors=known_connectors,
                 connector_types=connector_types)
    checker = InventoryChecker(**known)
    if _read(path, checker):
        return checker.finish()
    data, node = _load(path)
    lines = {section: _item_lines(node, section) for section in SECTIONS}
    return check_inventory(data, lines, **known)
