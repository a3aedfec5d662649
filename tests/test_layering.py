"""The layering of DESIGN.md, read from the source: the library never imports Prefect or
the flows; only the command imports the flows; one list of runner types."""

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
