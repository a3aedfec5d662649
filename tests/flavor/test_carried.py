"""Every saved model carries its pyfunc loader (code/) and needs only its requirements."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import Model

import mlflow_tflite
from mlflow_tflite.flavor import carry
from tests.flavor.conftest import images
from tests.flavor.raw import raw_predict
from tests.flavor.serving import predict_without_the_package

SOURCES = Path(mlflow_tflite.__file__).parent
# What a carried module may import: a serving environment holds the model's requirements
# (mlflow, ai-edge-litert, numpy) and what they bring (pandas comes with mlflow).
ALLOWED = {"mlflow", "ai_edge_litert", "numpy", "pandas"}


def outside_imports(name: str, text: str, carried: set[str]) -> list[str]:
    """Imports of a carried module (as carried) that are neither allowed nor a carried
    sibling (`carried`: their module names)."""
    bad = []
    for node in ast.walk(ast.parse(text, name)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        elif isinstance(node, ast.ImportFrom):
            sibling = node.level == 1 and (node.module is None or node.module in carried)
            modules = [] if sibling else ["." * node.level + (node.module or "")]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top not in ALLOWED and top not in sys.stdlib_module_names:
                bad.append(f"{name}:{node.lineno} imports {module}")
    return bad


CARRIED = carry.carried_sources()


@pytest.mark.parametrize("name", sorted(CARRIED))
def test_a_carried_module_imports_only_what_a_serving_environment_has(name):
    assert outside_imports(name, CARRIED[name], {Path(n).stem for n in CARRIED}) == []


def test_the_import_check_catches_the_package_tensorflow_and_a_module_not_carried():
    text = ("import numpy\nimport tensorflow as tf\nfrom mlflow_tflite import flavor\n"
            "from .load import x\nfrom .spec import y\nimport json\nfrom . import FLAVOR_NAME\n"
            "from ..litert import z\n")

    assert outside_imports("model.py", text, {"model", "load"}) == [
        "model.py:2 imports tensorflow",
        "model.py:3 imports mlflow_tflite",
        "model.py:5 imports .spec",
        "model.py:8 imports ..litert",
    ]


def test_the_carried_loader_is_the_loader_package_with_litert_beside_it():
    loader = SOURCES / "flavor" / "loader"

    assert sorted(CARRIED) == sorted([*carry.LOADER, "litert.py"])
    assert CARRIED["litert.py"] == (SOURCES / "litert.py").read_text()
    for name in carry.LOADER:
        assert CARRIED[name] == (loader / name).read_text().replace(
            "from mlflow_tflite.litert import", "from .litert import")


def test_a_loader_module_importing_a_module_that_is_not_carried_is_a_programming_error(
    tmp_path, monkeypatch
):
    loader = SOURCES / "flavor" / "loader"
    for name in carry.LOADER:
        (tmp_path / name).write_text((loader / name).read_text())
    (tmp_path / "load.py").write_text("from mlflow_tflite.metrics import find_metric\n")
    monkeypatch.setattr(carry, "_LOADER_DIR", tmp_path)
    carry.carried_sources.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"flavor/loader/load.py:1 imports "
                           r"mlflow_tflite.metrics, which the carried loader lacks"):
            carry.carried_sources()
    finally:
        monkeypatch.undo()
        carry.carried_sources.cache_clear()


def test_the_flavor_name_is_defined_once_in_the_loader_and_carried_as_is():
    definitions = [
        f"{path.relative_to(SOURCES).as_posix()}:{node.lineno}"
        for path in sorted(SOURCES.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "FLAVOR_NAME" for t in node.targets)
    ]

    assert [d.split(":")[0] for d in definitions] == ["flavor/loader/__init__.py"]
    assert "FLAVOR_NAME = \"tflite\"" in CARRIED["__init__.py"]
    assert mlflow_tflite.FLAVOR_NAME == mlflow_tflite.flavor.FLAVOR_NAME == "tflite"


def test_a_saved_model_carries_its_loader_and_requires_only_mlflow_litert_and_numpy(
    float_model, tmp_path
):
    mlflow_tflite.save_model(float_model, tmp_path / "model")

    pyfunc_conf = Model.load(str(tmp_path / "model")).flavors["python_function"]
    package = tmp_path / "model" / "code" / carry.loader_package()
    assert pyfunc_conf["loader_module"] == f"{carry.loader_package()}.pyfunc"
    assert pyfunc_conf["code"] == "code"
    assert sorted(p.name for p in package.iterdir()) == sorted(CARRIED)
    for name, text in CARRIED.items():
        assert (package / name).read_text() == text
    requirements = (tmp_path / "model" / "requirements.txt").read_text().split()
    assert [r.split("==")[0] for r in requirements] == ["mlflow", "ai-edge-litert", "numpy"]
    assert all("==" in r for r in requirements)
    conda = yaml.safe_load((tmp_path / "model" / "conda.yaml").read_text())
    assert conda["dependencies"][-1]["pip"] == requirements


def test_the_loader_package_is_named_after_the_carried_sources():
    name = carry.loader_package()

    assert name.startswith(carry.PACKAGE_PREFIX)
    assert name.isidentifier() and len(name) == len(carry.PACKAGE_PREFIX) + 12


def test_a_logged_model_loads_and_predicts_without_the_package_or_tensorflow(
    tracking_uri, int8_model, tmp_path
):
    with mlflow.start_run():
        info = mlflow_tflite.log_model(int8_model, name="digits")
    x = images(4)

    outputs, loader = predict_without_the_package(info.model_uri, x, tmp_path)

    assert loader == f"{carry.loader_package()}.model"
    expected = raw_predict(int8_model, {"image": x})["logits"]
    np.testing.assert_allclose(outputs, expected)


def test_user_code_paths_are_carried_beside_the_loader(float_model, tmp_path):
    helper = tmp_path / "labels.py"
    helper.write_text("LABELS = list('0123456789')\n")

    mlflow_tflite.save_model(float_model, tmp_path / "model", code_paths=[str(helper)])

    code = tmp_path / "model" / "code"
    assert sorted(p.name for p in code.iterdir()) == sorted(["labels.py",
                                                             carry.loader_package()])
    x = images(2)
    np.testing.assert_allclose(mlflow.pyfunc.load_model(str(tmp_path / "model")).predict(x),
                               raw_predict(float_model, {"image": x})["logits"])


def test_user_code_named_like_the_loader_package_is_refused_and_nothing_is_written(
    float_model, tmp_path
):
    clash = tmp_path / carry.loader_package()
    clash.mkdir()
    (clash / "__init__.py").write_text("")

    with pytest.raises(MlflowException, match="name of the tflite flavor's own loader") as error:
        mlflow_tflite.save_model(float_model, tmp_path / "model", code_paths=[str(clash)])

    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    assert not (tmp_path / "model").exists()
