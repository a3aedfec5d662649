"""Plug-in registries (one module per scheme or technique, found by walking a package),
and the user functions params name as `module:function`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cached_property
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def discover(package: str, attribute: str, kind: type[T]) -> list[T]:
    """The `attribute` of every module directly in `package` that defines one of `kind`.

    Modules are imported in name order; the others in the package (helpers) are skipped.

    Raises:
        RuntimeError: two modules define entries with the same `name`.
    """
    found: dict[str, T] = {}
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        entry = getattr(importlib.import_module(f"{package}.{info.name}"), attribute, None)
        if not isinstance(entry, kind):
            continue
        name = entry.name  # type: ignore[attr-defined]
        if name in found:
            raise RuntimeError(f"{package}: {name!r} is defined twice")
        found[name] = entry
    return list(found.values())


class Registry(Generic[T]):
    """The plug-ins of one kind in a package, discovered on first use, looked up by name.

    Args:
        package: the package whose modules define the plug-ins.
        attribute: the module attribute holding one (`SCHEME`, `TECHNIQUE`).
        kind: its type; modules without one (helpers) are skipped.
        order: the sort key of `all()`.
        noun: what an unknown name is called in the lookup error (`quantization`).
        error: the lookup error's type.
        check: validates the discovered plug-ins together (raises RuntimeError).
    """

    def __init__(
        self,
        package: str,
        attribute: str,
        kind: type[T],
        *,
        order: Callable[[T], Any],
        noun: str,
        error: type[Exception] = KeyError,
        check: Callable[[list[T]], None] | None = None,
    ) -> None:
        self._package, self._attribute, self._kind = package, attribute, kind
        self._order, self._noun, self._error, self._check = order, noun, error, check

    @cached_property
    def _entries(self) -> tuple[T, ...]:
        found = discover(self._package, self._attribute, self._kind)
        if self._check:
            self._check(found)
        return tuple(sorted(found, key=self._order))

    def all(self) -> tuple[T, ...]:
        """Every plug-in, in order."""
        return self._entries

    def names(self) -> tuple[str, ...]:
        """Every plug-in's name, in order."""
        return tuple(entry.name for entry in self._entries)  # type: ignore[attr-defined]

    def get(self, name: str) -> T:
        """The plug-in called `name`.

        Raises:
            the registry's error type: no plug-in has that name (the message lists them).
        """
        for entry in self._entries:
            if entry.name == name:  # type: ignore[attr-defined]
                return entry
        raise self._error(
            f"unknown {self._noun} {name!r}; expected one of {', '.join(self.names())}"
        )


def import_function(spec: str) -> Callable[..., Any]:
    """The function `module:function` names (a `train.model` builder, an `evaluate` hook).

    Raises:
        LookupError: the spec is malformed, the module does not import or has no such
            function; the message is one line starting with `spec`.
    """
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise LookupError(f"{spec}: expected `module:function`")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise LookupError(f"{spec}: cannot import module {module_name} ({error})") from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise LookupError(f"{spec}: module {module_name} has no function {function_name}")
    return function
