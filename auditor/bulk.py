"""Helpers for the work done by the ten thousand on a large database (issue 15).

* :func:`direct_init`: a cheaper ``__init__`` for the frozen dataclasses made in bulk;
* :func:`leading_fields`: the field order a builder that passes them by position relies on, checked;
* :func:`gc_paused`: no cyclic garbage collection while a phase builds millions of objects that stay;
* :func:`gc_paused_keeping`: the same, and what the phase built is not walked by a collection after it;
* :func:`frozen_heap`: the objects that outlive a run's phases (its snapshot) left out of the collections;
* :class:`cached`: a lock-free ``functools.cached_property`` for the lookups read once per object.


A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` (its own
``__setattr__`` refuses): a call per field, 20 for an :class:`auditor.model.ObjectRef`. A 10,000-table database
gives some 16,000 findings, each with an object, a hit and a finding, and its connector builds some 100,000
columns and index keys: there the calls are a third of the checks' time. :func:`direct_init` gives such a class an
``__init__`` with the same signature, defaults and default factories that stores the fields into the instance's
``__dict__`` directly, which is what ``object.__setattr__`` does for a class without slots. The class stays a
frozen dataclass: equality, hashing, ``replace``, ``fields`` and the refusal of assignments are unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

_C = TypeVar("_C")
_V = TypeVar("_V")


class _Factory:
    """The default of a parameter whose field has a default factory (None may be a value given on purpose)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def direct_init(cls: type[_C]) -> type[_C]:
    """Replace the generated ``__init__`` of a plain frozen dataclass (every field set by ``__init__``, none
    keyword-only, no ``__post_init__``, no slots) by one that fills the instance's ``__dict__``."""
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__}: direct_init is for frozen dataclasses")
    fields = dataclasses.fields(cls)
    if (hasattr(cls, "__post_init__") or hasattr(cls, "__slots__")
            or any(not f.init or f.kw_only for f in fields)):
        raise TypeError(f"{cls.__name__}: direct_init is for plain frozen dataclasses")
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY}
    params: list[str] = []
    body: list[str] = []
    for f in fields:
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            body.append(f"    if {f.name} is _FACTORY:\n        {f.name} = _factory_{f.name}()")
        else:
            params.append(f.name)
    body.append("    attrs = self.__dict__")
    body.extend(f"    attrs[{f.name!r}] = {f.name}" for f in fields)
    source = f"def __init__(self, {', '.join(params)}) -> None:\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # noqa: S102 - the source is made above from the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


def leading_fields(cls: type, *names: str) -> tuple[str, ...]:
    """``names``, checked to be the first fields of the dataclass ``cls`` in their order: for a builder that
    passes them by position (a call with twenty keywords costs a quarter more than one with twenty positions, and
    a connector makes tens of thousands of such objects). A field moved or renamed fails at import, not in a
    snapshot."""
    order = tuple(f.name for f in dataclasses.fields(cls))
    if order[:len(names)] != names:
        raise TypeError(f"{cls.__name__}'s fields begin {order[:len(names)]}, not {names}")
    return names


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic cyclic garbage collection inside the block (restored as it was after it).

    CPython runs a full collection each time the objects that survived the younger ones grow by a quarter:
    loading a 10,000-table snapshot (some two million objects, none of them garbage) walks the whole heap again
    and again, for a third of the load's time, and the checks over it pay the same way. What is built here stays,
    or is freed by reference counting; the collector runs again, as usual, after the block.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def gc_paused_keeping() -> Iterator[None]:
    """:func:`gc_paused`, and what the block built and still holds at its end is then left to the oldest
    generation, without a collection walking it first.

    With the collector paused, every container the block allocates counts towards the youngest generation: the
    first allocation after it starts a collection of all those that are still alive (the checks over a
    10,000-table snapshot leave some 230,000: their findings, the snapshot's lookups), a tenth of the checks'
    time, for no garbage. ``gc.freeze`` moves the tracked objects to the permanent generation in one step; when
    the caller has not frozen a heap itself (:func:`frozen_heap`, whose end moves them all to the oldest
    generation), ``gc.unfreeze`` does that at once. Garbage in a cycle built in the block waits for the next full
    collection instead of the next young one.
    """
    was_frozen = gc.get_freeze_count() > 0
    with gc_paused():
        yield
        gc.freeze()
        if not was_frozen:
            gc.unfreeze()


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Every object alive at the start of the block is left out of the cyclic collections inside it
    (``gc.freeze``; ``gc.unfreeze`` after it). A run's snapshot lives until the run ends: the collections the
    checks and the report trigger need not walk its millions of objects each time. The objects are still freed
    by reference counting as usual; only cyclic garbage that exists at the start waits for the end."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class cached(Generic[_V]):  # noqa: N801 - used as a decorator, like functools.cached_property
    """``functools.cached_property`` without its lock (Python 3.11 takes an RLock on every first read, a third of
    the cost of a one-line property read once per index on 40,000 indexes; 3.12 dropped the lock). The value is
    kept in the instance's ``__dict__``, so the next read does not reach the descriptor; a frozen dataclass
    derives it from fields that cannot change, so it cannot go stale."""

    def __init__(self, func: Callable[[Any], _V]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached[_V]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _V: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> _V | cached[_V]:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value
