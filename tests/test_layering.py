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


# The library's layers, bottom first: a module may import its own layer and those below,
# never one above. A name is a module or a package of mlflow_tflite (the longest match
# wins; "" is the package root, the flavor API); a module in no layer fails the test. The
# plug-in declarations (the technique registry, the schemes and what they build recipes
# from) sit below config, which reads them; the techniques' modules are found by
# discovery, not imported by the registry.
LAYERS = (
    ("errors", "section", "metrics", "_discovery", "_tf", "litert", "flavor.loader"),
    ("evaluate", "compress.registry", "convert.schemes", "convert.facts", "convert.quantizer",
     "convert.quiet", "convert.representative"),
    ("config",),
    ("data", "measure"),
    ("convert",),
    ("train",),
    ("compress",),
    ("", "flavor"),
    ("pipeline", "tracking"),
    ("registry",),
    ("search",),
    ("checks",),
    ("cli",),
)


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(name: str) -> int | None:
    """The layer of module `name` (relative to the package), by its longest listed prefix."""
    best: tuple[int, int] | None = None
    for index, names in enumerate(LAYERS):
        for prefix in names:
            inside = name == prefix or (prefix != "" and name.startswith(prefix + "."))
            if inside and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return best[1] if best else None


def _library_imports(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, module relative to the package) of every import of the library in a file;
    `from mlflow_tflite import tracking` is the module `tracking`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n if _is_module(root, n) else node.module for n in names]
        else:
            continue
        for name in names:
            if name == root.name or name.startswith(root.name + "."):
                found.append((node.lineno, name.removeprefix(root.name).removeprefix(".")))
    return found


def _is_module(root: Path, dotted: str) -> bool:
    path = root.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def upward_imports(root: Path) -> list[str]:
    """Every import of a module in a higher layer, and every module in no layer."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        own = _layer(_module_name(root, path))
        if own is None:
            bad.append(f"{root.name}/{relative}: in no layer")
            continue
        for line, module in _library_imports(root, path):
            target = _layer(module)
            if target is not None and target > own:
                bad.append(f"{root.name}/{relative}:{line} imports {module or root.name} "
                           f"(layer {target} above layer {own})")
    return bad


def test_every_import_of_the_library_runs_down_its_layers():
    assert upward_imports(LIBRARY) == []


def test_the_check_catches_an_import_that_runs_back_up(tmp_path: Path):
    root = tmp_path / "mlflow_tflite"
    (root / "measure").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "measure" / "__init__.py").write_text(
        "from mlflow_tflite.metrics import find_metric\n"
        "def f():\n    from mlflow_tflite import tracking\n"
    )
    (root / "tracking.py").write_text("from mlflow_tflite.measure import f\n")
    (root / "metrics.py").write_text("")
    (root / "plugins.py").write_text("")
    assert upward_imports(root) == [
        "mlflow_tflite/measure/__init__.py:3 imports tracking (layer 8 above layer 3)",
        "mlflow_tflite/plugins.py: in no layer",
    ]


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
