"""Indented JSON text, byte for byte what ``json.dumps(value, indent=2, ensure_ascii=False, default=...)`` writes,
in a fraction of its time (issue 15).

Python 3.11's JSON encoder is written in C only for compact output: with ``indent`` it falls back to the
pure-Python one, whose generators pass every string of the text up through one generator per nesting level. The
10,000-table report's 16,000 findings (and SARIF's results, nested eight deep) then take seconds. :func:`dumps`
walks the value once, appending each piece to one list (a key with the comma, line break and indentation before
it is one piece, made once per key and depth); the strings are escaped by the same C function the
standard encoder uses (``json.encoder.encode_basestring``), numbers are written by ``int.__repr__`` and
``float.__repr__`` (NaN and infinities as ``NaN``, ``Infinity``, ``-Infinity``), keys are converted and refused
as the standard encoder does, ``default`` is called for any other object, and circular references raise the same
``ValueError``. ``tests/test_jsontext.py`` compares the two on the cases where they could part.
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

_INFINITY = float("inf")
_int_repr = int.__repr__
_float_repr = float.__repr__


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return _float_repr(value)


def dumps(value: Any, indent: int = 2, default: Callable[[Any], Any] | None = None) -> str:
    """``json.dumps(value, indent=indent, ensure_ascii=False, default=default)``, the same text, faster."""
    out: list[str] = []
    put = out.append
    newlines = ["\n"]  # by depth: the line break and the indentation that start an item
    # by depth: each key's text with the comma, line break and indentation before it and the colon after it (the
    # same few keys come back in every finding)
    keys: list[dict[str, str]] = []
    step = " " * indent
    markers: dict[int, Any] = {}  # the containers being written, for the circular-reference check

    def enter(container: Any) -> None:
        marker = id(container)
        if marker in markers:
            raise ValueError("Circular reference detected")
        markers[marker] = container

    def write(o: Any, depth: int) -> None:
        # the order of the tests is the standard encoder's (a str or int subclass is written as a str or int)
        if isinstance(o, str):
            put(encode_basestring(o))
        elif o is None:
            put("null")
        elif o is True:
            put("true")
        elif o is False:
            put("false")
        elif isinstance(o, int):
            put(_int_repr(o))
        elif isinstance(o, float):
            put(_float_text(o))
        elif isinstance(o, list | tuple):
            if not o:
                put("[]")
                return
            enter(o)
            depth += 1
            if depth == len(newlines):
                newlines.append("\n" + step * depth)
            newline = newlines[depth]
            separator = "," + newline
            put("[")
            opening = len(out)
            for item in o:
                put(separator)
                kind = type(item)
                if kind is str:
                    put(encode_basestring(item))
                elif kind is int:
                    put(_int_repr(item))
                else:
                    write(item, depth)
            out[opening] = newline  # the first item has no comma before it
            put(newlines[depth - 1])
            put("]")
            del markers[id(o)]
        elif isinstance(o, dict):
            if not o:
                put("{}")
                return
            enter(o)
            depth += 1
            if depth == len(newlines):
                newlines.append("\n" + step * depth)
            while depth >= len(keys):
                keys.append({})
            known = keys[depth]
            put("{")
            opening = len(out)
            for key, item in o.items():
                if isinstance(key, str):
                    pass
                elif isinstance(key, float):
                    key = _float_text(key)
                elif key is True:
                    key = "true"
                elif key is False:
                    key = "false"
                elif key is None:
                    key = "null"
                elif isinstance(key, int):
                    key = _int_repr(key)
                else:
                    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")
                text = known.get(key)
                if text is None:
                    text = known[key] = "," + newlines[depth] + encode_basestring(key) + ": "
                put(text)
                kind = type(item)
                if kind is str:
                    put(encode_basestring(item))
                elif kind is int:
                    put(_int_repr(item))
                elif item is None:
                    put("null")
                else:
                    write(item, depth)
            out[opening] = out[opening][1:]  # the first key has no comma before it
            put(newlines[depth - 1])
            put("}")
            del markers[id(o)]
        else:
            if default is None:
                raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")
            enter(o)
            write(default(o), depth)
            del markers[id(o)]

    write(value, 0)
    return "".join(out)
