"""reports.jsontext.dumps writes what json.dumps(indent=..., ensure_ascii=False) writes, byte for byte."""

from __future__ import annotations

import enum
import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from reports.jsontext import dumps


class Level(enum.StrEnum):
    WARNING = "warning"


class Rank(enum.IntEnum):
    HIGH = 3


class Plain(enum.Enum):
    ONE = 1


class Text(str):
    pass


def _standard(value: Any, indent: int = 2, default: Any = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, default=default)


TRICKY: list[Any] = [
    {},
    [],
    "",
    0,
    -1.5,
    None,
    True,
    {"a": {}, "b": [], "c": [[]], "d": [{}], "e": {"f": {"g": []}}},
    ["[", "]", "{", "}", ",", ":", '"', "\\", "\n", "\t", "\x00\x1f\x7f", "é ü 日本 \u2028 \U0001f600", "\ud800"],
    {"[{": "}]", '"quoted"': "back\\slash", "new\nline": "tab\t", "": ""},
    [float("nan"), float("inf"), -float("inf"), 1e16, 1e-7, 0.1, 1.0, -0.0, 2.5e300, 123456789.123456789],
    [2**70, -(2**64), True, False, None, 0],
    {7: "int key", 2.5: "float key", True: "true key", False: "false key", None: "null key", float("nan"): "nan"},
    (1, (2, (3, ())), "tuple"),
    {"level": Level.WARNING, Level.WARNING: "enum key", "rank": Rank.HIGH, Rank.HIGH: 1, "text": Text("x")},
    [[[[[[[[[["deep"]]]]]]]]]],
    {"findings": [{"code": "IX01", "object": {"type": "index", "columns": ["a", "b"]}, "details": {"n": 1,
                                                                                                 "x": None}}]},
    # the same keys at several depths (each depth keeps its own key texts), and keys that convert alike
    {"a": {"a": {"a": [{"a": 1}, {"a": 2, "b": []}]}}, "b": [{"a": 3}, {"b": {}}], "c": {"b": None}},
    [{1: "int key", "1": "str key"}, {True: 1, "true": 2}, {"x": [1, "x\n]", None, 1.5, float("nan"), ()]}],
]


@pytest.mark.parametrize("value", TRICKY, ids=range(len(TRICKY)))
def test_same_text_as_the_standard_encoder(value: Any) -> None:
    assert dumps(value) == _standard(value)
    assert dumps(value, indent=4) == _standard(value, indent=4)


def test_default_is_called_for_other_objects() -> None:
    moment = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
    value = {"at": moment, "plain": Plain.ONE, "set": {1}, "nested": [moment, {"deep": object}]}
    assert dumps(value, default=str) == _standard(value, default=str)
    # a default returning a container: written as the container, at the depth of the object it replaced
    assert dumps({"a": [Plain.ONE]}, default=lambda o: {"v": [o.value]}) == \
        _standard({"a": [Plain.ONE]}, default=lambda o: {"v": [o.value]})


def test_refusals_are_the_standard_encoders() -> None:
    for value in ({"a": object()}, {(1, 2): "tuple key"}):
        with pytest.raises(TypeError) as ours:
            dumps(value)
        with pytest.raises(TypeError) as standard:
            _standard(value)
        assert str(ours.value) == str(standard.value)
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        dumps(loop)
    # the same object twice side by side is no cycle
    shared = {"x": [1]}
    assert dumps([shared, shared]) == _standard([shared, shared])


def _random_value(rng: random.Random, depth: int) -> Any:
    pieces = ["a", "[", "]", "{", "}", '"', "\\", "\n", ",", ": ", "é", "\x01", " "]
    kind = rng.randrange(9 if depth < 5 else 6)
    if kind == 0:
        return "".join(rng.choice(pieces) for _ in range(rng.randrange(6)))
    if kind == 1:
        return rng.randrange(-(10**20), 10**20)
    if kind == 2:
        return rng.choice([rng.random() * 10 ** rng.randrange(-20, 20), float("nan"), 0.0, -2.5])
    if kind == 3:
        return rng.choice([None, True, False])
    if kind in (4, 5):
        return "".join(rng.choice(pieces) for _ in range(2))
    if kind == 6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return tuple(_random_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    keys = [rng.choice(["k", "[", "{x}", 1, 2.5, None, True]) for _ in range(rng.randrange(4))]
    return {k: _random_value(rng, depth + 1) for k in keys}


def test_random_values() -> None:
    rng = random.Random(15)
    for _ in range(2000):
        value = _random_value(rng, 0)
        assert dumps(value) == _standard(value)
