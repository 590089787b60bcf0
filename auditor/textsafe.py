"""Text a terminal shows without acting on it: control characters in object names and server messages escaped.

A table can be named ``"\\x1b]0;pwned\\x07orders"``: printed raw, the escape sequence sets the terminal's title
(others recolour it, move the cursor, or hide the rest of the line), and a carriage return or a bidirectional
override makes a line read as something else. Every string that comes from the audited database, a snapshot
file or a server message is therefore shown with its C0 and C1 control characters, DEL and the Unicode
bidirectional controls written as ``\\xNN`` / ``\\uNNNN``; dbaudit's own colours are added after escaping.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
from collections.abc import Mapping
from typing import Any, TypeVar

# C0 controls but tab and newline, DEL, C1 controls; the bidirectional marks, embeddings, overrides, isolates
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_OR_NEWLINE = re.compile(_UNSAFE.pattern[:-1] + "\t\n]")
# in JSON text: what json.dumps(ensure_ascii=False) leaves raw (it escapes C0 itself)
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")

T = TypeVar("T")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str, keep_newlines: bool = False) -> str:
    """``text`` with every character a terminal would act on escaped (tabs and newlines too, unless kept)."""
    pattern = _UNSAFE if keep_newlines else _UNSAFE_OR_NEWLINE
    return pattern.sub(_escape, text)


def json_safe(text: str) -> str:
    """JSON text whose strings hold no raw DEL, C1 or bidirectional control (written as ``\\uNNNN`` escapes,
    which every JSON reader decodes back): JSON reports are read in terminals too."""
    if text.isascii():
        return text  # every character above is outside ASCII; isascii() reads a flag of the string, no scan
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


@functools.cache
def _is_dataclass_type(kind: type) -> bool:
    """Whether an object of this type is a dataclass instance (``dataclasses.is_dataclass`` of a value that is not
    a class), once per type."""
    return dataclasses.is_dataclass(kind) and not issubclass(kind, type)


@functools.cache
def _init_fields(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind) if f.init)


# fields whose text is SQL to copy: their newlines are line breaks of the statement, kept as they are
_MULTILINE_FIELDS = frozenset({"remediation", "enable"})


def safe_copy(value: T, skip: frozenset[str] = frozenset(), _keep_newlines: bool = False) -> T:
    """A copy of a dataclass tree (tuples, lists and mappings inside it too) with every string made
    :func:`terminal_safe`; fields named in ``skip`` are left as they are. Objects without strings to change are
    returned as they are, so the copy costs little when nothing needs escaping."""
    kind: Any = type(value)
    if kind is str:  # the common case first: a report holds tens of thousands of strings
        return terminal_safe(value, keep_newlines=_keep_newlines)  # type: ignore[arg-type, return-value]
    if value is None or kind is int or kind is float or kind is bool:
        return value
    if isinstance(value, enum.Enum):
        return value  # a Severity is a str too: its value is the program's own, and its methods must stay
    if isinstance(value, str):
        return terminal_safe(value, keep_newlines=_keep_newlines)  # type: ignore[return-value]
    if _is_dataclass_type(kind):
        changes: dict[str, Any] = {}
        for name in _init_fields(kind):
            if name in skip:
                continue
            old = getattr(value, name)
            # the plain fields (most of a finding's) tested here rather than in a call each: the same outcome
            # as safe_copy(old, ...), a third of the text report's time at 10,000 tables
            field_kind = type(old)
            if field_kind is str:
                new = terminal_safe(old, keep_newlines=name in _MULTILINE_FIELDS)  # the same str when safe
            elif old is None or field_kind is int or field_kind is float or field_kind is bool:
                continue
            else:
                new = safe_copy(old, skip, name in _MULTILINE_FIELDS)
            if new is not old:
                changes[name] = new
        return dataclasses.replace(value, **changes) if changes else value  # type: ignore[type-var]
    if isinstance(value, tuple | list):
        items = [safe_copy(v, skip, _keep_newlines) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(items)  # type: ignore[return-value]
    if isinstance(value, Mapping):
        pairs = {safe_copy(k, skip, _keep_newlines): safe_copy(v, skip, _keep_newlines) for k, v in value.items()}
        if all(k in value and value[k] is v for k, v in pairs.items()):
            return value
        return pairs  # type: ignore[return-value]
    return value
