"""Find the plug-in modules of a package: one module per scheme or technique."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TypeVar

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
