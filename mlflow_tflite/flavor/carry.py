"""The loader a saved `tflite` model carries in its `code/` directory (`flavor.loader`).

The carried modules become a package of their own inside the model, named after a digest
of their source. Not `mlflow_tflite`: MLflow puts a model's `code/` first on `sys.path`,
where a partial `mlflow_tflite` would shadow the installed one. And not one fixed name: a
package is imported once per process, so two models carrying different loaders (logged by
different releases) would both run whichever was imported first.

The package is `flavor/loader/` as it is, plus the modules of `mlflow_tflite` it imports
absolutely (`SHARED`), copied beside it and imported relatively in the copy.
"""

from __future__ import annotations

import ast
import hashlib
import re
from functools import cache
from pathlib import Path

from mlflow_tflite.flavor.loader.load import invalid_parameter

PACKAGE_PREFIX = "mlflow_tflite_loader_"
# The loader's modules, `pyfunc` (the `loader_module`) first.
LOADER = ("pyfunc.py", "model.py", "load.py", "__init__.py")
# Modules of the package the loader imports by their absolute name -> their file.
SHARED = {"mlflow_tflite.litert": "litert.py"}
_LOADER_DIR = Path(__file__).resolve().parent / "loader"
_PACKAGE_DIR = _LOADER_DIR.parent.parent
_ABSOLUTE = re.compile(r"^(\s*from )(" + "|".join(map(re.escape, SHARED)) + r")( import )",
                       re.MULTILINE)


@cache
def carried_sources() -> dict[str, str]:
    """File name -> source of every module of the carried package, as carried.

    Raises:
        RuntimeError: a loader module imports a module of `mlflow_tflite` that is not
            carried (a programming error; `tests/flavor/test_carried.py` finds it first).
    """
    files = {}
    for name in LOADER:
        text = _ABSOLUTE.sub(lambda m: f"{m[1]}.{SHARED[m[2]].removesuffix('.py')}{m[3]}",
                             (_LOADER_DIR / name).read_text())
        for node in ast.walk(ast.parse(text, name)):
            module = node.module if isinstance(node, ast.ImportFrom) and not node.level else ""
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [module]
            if any(n and n.split(".")[0] == "mlflow_tflite" for n in names):
                raise RuntimeError(f"flavor/loader/{name}:{node.lineno} imports "
                                   f"{', '.join(names)}, which the carried loader lacks")
        files[name] = text
    files.update({file: (_PACKAGE_DIR / file).read_text() for file in SHARED.values()})
    return files


@cache
def loader_package() -> str:
    """`mlflow_tflite_loader_<digest of the carried sources>`."""
    digest = hashlib.sha256()
    for name, text in sorted(carried_sources().items()):
        digest.update(name.encode() + b"\0" + text.encode())
    return PACKAGE_PREFIX + digest.hexdigest()[:12]


def loader_module() -> str:
    """The MLmodel `loader_module` of a model that carries the loader."""
    return f"{loader_package()}.{Path(LOADER[0]).stem}"


def carry_loader(code_dir: Path) -> None:
    """Write the carried package into `code_dir/<loader_package()>/`.

    Raises:
        MlflowException: the user's `code_paths` already put something under that name.
    """
    package = code_dir / loader_package()
    if package.exists():
        raise invalid_parameter(
            f"code_paths holds {package.name!r}, the name of the tflite flavor's own loader "
            "package in the model; rename it"
        )
    package.mkdir(parents=True)
    for name, text in carried_sources().items():
        (package / name).write_text(text)
