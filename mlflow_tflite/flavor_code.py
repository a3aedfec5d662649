"""The loader a saved `tflite` model carries in its `code/` directory (see `flavor_pyfunc`).

The carried modules become a package of their own inside the model, named after a digest
of their source. Not `mlflow_tflite`: MLflow puts a model's `code/` first on `sys.path`,
where a partial `mlflow_tflite` would shadow the installed one. And not one fixed name: a
package is imported once per process, so two models carrying different loaders (logged by
different releases) would both run whichever was imported first.
"""

from __future__ import annotations

import hashlib
import shutil
from functools import cache
from pathlib import Path

from mlflow_tflite import __version__
from mlflow_tflite.flavor_load import invalid_parameter

# The loader first; the rest is what it imports, relatively.
CARRIED = ("flavor_pyfunc.py", "flavor_model.py", "flavor_load.py", "litert.py")
PACKAGE_PREFIX = "mlflow_tflite_loader_"
_SOURCES = Path(__file__).resolve().parent


@cache
def loader_package() -> str:
    """`mlflow_tflite_loader_<digest of the carried sources>`."""
    digest = hashlib.sha256()
    for name in CARRIED:
        digest.update(name.encode() + b"\0" + (_SOURCES / name).read_bytes())
    return PACKAGE_PREFIX + digest.hexdigest()[:12]


def loader_module() -> str:
    """The MLmodel `loader_module` of a model that carries the loader."""
    return f"{loader_package()}.{Path(CARRIED[0]).stem}"


def carry_loader(code_dir: Path) -> None:
    """Copy the carried modules into `code_dir/<loader_package()>/`.

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
    (package / "__init__.py").write_text(
        f'"""The tflite flavor\'s pyfunc loader, carried by mlflow-tflite {__version__}."""\n'
    )
    for name in CARRIED:
        shutil.copyfile(_SOURCES / name, package / name)
