"""Find the plug-in modules of a package (one module per scheme or technique), and the
user functions params name as `module:function`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

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
