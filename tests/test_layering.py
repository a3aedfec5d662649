"""The layering of docs/architecture.md, read from the source: the library never imports
Prefect or the flows; only the command imports the flows; every import runs down the
declared layers; one list of runner types."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "mlflow_tflite"
FLOWS = "mlflow_tflite_flows"
# Orchestration packages only the flows may import.
ORCHESTRATION = ("prefect", "prefect_dask", "dask", "distributed", "flows", FLOWS)
# The command modules allowed to import the flows (each inside the function that runs it).
COMMANDS_WITH_FLOWS = {"cli/run.py", "cli/schedule.py", "cli/search.py"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, at any depth (functions included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def violations(root: Path) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for line, module in imported_modules(path):
            top = module.split(".")[0]
            if top not in ORCHESTRATION:
                continue
            if top == FLOWS and relative in COMMANDS_WITH_FLOWS:
                continue
            bad.append(f"mlflow_tflite/{relative}:{line} imports {module}")
    return bad


def test_the_library_imports_neither_prefect_nor_the_flows_and_only_the_command_the_flows():
    assert violations(LIBRARY) == []


def test_the_check_catches_a_library_module_that_imports_prefect_or_the_flows(tmp_path: Path):
    (tmp_path / "cli").mkdir()
    (tmp_path / "measure.py").write_text(
        "def f():\n    from prefect import flow\n    import flows.optimize\n"
    )
    (tmp_path / "cli" / "run.py").write_text(f"from {FLOWS}.optimize import run_flow\n")
    (tmp_path / "cli" / "compare.py").write_text(f"import {FLOWS}.runner\n")
    assert violations(tmp_path) == [
        f"mlflow_tflite/cli/compare.py:1 imports {FLOWS}.runner",
        "mlflow_tflite/measure.py:2 imports prefect",
        "mlflow_tflite/measure.py:3 imports flows.optimize",
    ]


# The layers, bottom first: a module may import its own layer and those below, never one
# above. Each name is a top-level module or package (a package is one layer, whole: no
# package spans two) of the library, the flows (installed as mlflow_tflite_flows) or the
# benchmarks; `mlflow_tflite` alone is the package root (the flavor API). A module in no
# layer fails the test. The plug-in declarations (`plugins`: what a technique and a
# scheme are, and their registries) sit below config, which reads them; the techniques'
# and schemes' modules (in `compress`, `convert`) are found by discovery, not imported.
LIB = "mlflow_tflite"


def _lib(*names: str) -> tuple[str, ...]:
    return tuple(f"{LIB}.{name}" if name else LIB for name in names)


LAYERS = (
    _lib("errors", "section", "metrics", "constraints", "intervals", "_discovery", "_tf",
         "litert"),
    _lib("evaluate", "plugins"),
    _lib("config"),
    _lib("data", "measure"),
    _lib("convert", "targets"),
    _lib("train"),
    _lib("compress"),
    _lib("", "flavor"),
    _lib("pipeline", "tracking"),
    _lib("registry"),
    _lib("search"),
    _lib("checks"),
    (FLOWS,),
    _lib("cli"),
    ("bench",),
)
# Where each layered tree's sources are, by the name it is imported as.
SOURCES = {LIB: LIBRARY, FLOWS: ROOT / "flows", "bench": ROOT / "bench"}


def _layer(name: str) -> int | None:
    """The layer of module `name` (dotted, from its root), by its longest listed prefix;
    the package root `mlflow_tflite` is only itself."""
    best: tuple[int, int] | None = None
    for index, names in enumerate(LAYERS):
        for prefix in names:
            inside = name == prefix or (prefix != LIB and name.startswith(prefix + "."))
            if inside and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return best[1] if best else None


def _module_name(root_name: str, root: Path, path: Path) -> tuple[str, str]:
    """(module, package) of a file: `mlflow_tflite.config.variants`, `mlflow_tflite.config`."""
    parts = [root_name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _imports(path: Path, package: str, modules: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, at any depth (functions, TYPE_CHECKING),
    relative ones resolved against `package`; `from x import y` is the module `x.y` when
    that is a module (`modules`), else `x`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                name = f"{base}.{alias.name}"
                found.append((node.lineno, name if name in modules else base))
    return list(dict.fromkeys(found))


def upward_imports(sources: dict[str, Path]) -> list[str]:
    """Every import of a module in a higher layer, every module in no layer, and every
    layer name that is not a whole top-level module or package of its tree."""
    files = {}
    for root_name, root in sources.items():
        for path in sorted(root.rglob("*.py")):
            files[path] = (root_name, root, *_module_name(root_name, root, path))
    modules = {module for _, _, module, _ in files.values()}
    bad = [f"layer name {name}: not a top-level module or package" for names in LAYERS
           for name in names if name.count(".") > (1 if name.startswith(LIB + ".") else 0)]
    for path, (_, root, module, package) in files.items():
        shown = f"{root.name}/{path.relative_to(root).as_posix()}"
        own = _layer(module)
        if own is None:
            bad.append(f"{shown}: in no layer")
            continue
        for line, imported in _imports(path, package, modules):
            target = _layer(imported)
            if target is not None and target > own:
                bad.append(f"{shown}:{line} imports {imported} "
                           f"(layer {target} above layer {own})")
    return bad


def test_every_import_of_the_library_the_flows_and_the_benchmarks_runs_down_its_layers():
    assert upward_imports(SOURCES) == []


def test_the_check_catches_an_import_that_runs_back_up(tmp_path: Path):
    root = tmp_path / "mlflow_tflite"
    (root / "measure").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "measure" / "__init__.py").write_text(
        "from mlflow_tflite.metrics import find_metric\n"
        "def f():\n    from mlflow_tflite import tracking\n"
    )
    (root / "measure" / "size.py").write_text("from ..config import params\nfrom . import x\n")
    (root / "tracking.py").write_text("from mlflow_tflite.measure import f\n")
    (root / "metrics.py").write_text("from .measure import size\n")
    (root / "plugins.py").write_text("")
    (root / "widgets.py").write_text("")
    (root / "cli.py").write_text("")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "optimize.py").write_text("from mlflow_tflite import cli\nfrom . import runner\n")
    assert upward_imports({LIB: root, FLOWS: flows}) == [
        "mlflow_tflite/measure/__init__.py:3 imports mlflow_tflite.tracking "
        "(layer 8 above layer 3)",
        "mlflow_tflite/metrics.py:1 imports mlflow_tflite.measure.size (layer 3 above layer 0)",
        "mlflow_tflite/widgets.py: in no layer",
        "flows/optimize.py:1 imports mlflow_tflite.cli (layer 13 above layer 12)",
    ]


def test_no_package_spans_two_layers():
    names = [name for layer in LAYERS for name in layer]
    assert len(names) == len(set(names))
    assert not [n for n in names if n.count(".") > (1 if n.startswith(LIB + ".") else 0)]


def test_the_flows_use_the_one_list_of_runner_types():
    from mlflow_tflite.config.runner import RUNNER_TYPES
    from mlflow_tflite_flows.runner import RUNNERS

    assert tuple(RUNNERS) == RUNNER_TYPES
    assert RUNNERS["dask"].__name__ == "_dask"


@pytest.mark.slow
def test_the_wheel_installs_no_generic_top_level_package(tmp_path: Path):
    import shutil
    import subprocess
    import sys

    # A copy: building writes build/ and *.egg-info next to the sources.
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__")
    for name in ("mlflow_tflite", "flows"):
        shutil.copytree(ROOT / name, source / name, ignore=skip)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path),
         str(source)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert tops == {"mlflow_tflite", FLOWS, "mlflow_tflite-0.1.0.dist-info"}
