"""Every saved model carries its pyfunc loader (code/) and needs only its requirements."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import Model

import mlflow_tflite
from mlflow_tflite import flavor_code
from tests.flavor.conftest import images
from tests.flavor.raw import raw_predict

SOURCES = Path(mlflow_tflite.__file__).parent
# What a carried module may import: a serving environment holds the model's requirements
# (mlflow, ai-edge-litert, numpy) and what they bring (pandas comes with mlflow).
ALLOWED = {"mlflow", "ai_edge_litert", "numpy", "pandas"}
# Never importable in the subprocess below: the package itself and the compression stack.
BLOCKED = ("mlflow_tflite", "tensorflow", "tf_keras", "tensorflow_model_optimization",
           "ai_edge_quantizer", "prefect", "optuna", "dvc", "pydantic_settings")


def outside_imports(path: Path) -> list[str]:
    """Imports of a carried module that are neither allowed nor a carried sibling."""
    carried = {Path(name).stem for name in flavor_code.CARRIED}
    bad = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        elif isinstance(node, ast.ImportFrom):
            modules = [] if node.level == 1 and node.module in carried else [f".{node.module}"]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top not in ALLOWED and top not in sys.stdlib_module_names:
                bad.append(f"{path.name}:{node.lineno} imports {module}")
    return bad


@pytest.mark.parametrize("name", flavor_code.CARRIED)
def test_a_carried_module_imports_only_what_a_serving_environment_has(name):
    assert outside_imports(SOURCES / name) == []


def test_the_import_check_catches_the_package_tensorflow_and_a_module_not_carried(tmp_path):
    path = tmp_path / "flavor_model.py"
    path.write_text("import numpy\nimport tensorflow as tf\nfrom mlflow_tflite import flavor\n"
                    "from .flavor_load import x\nfrom .flavor_spec import y\nimport json\n")

    assert outside_imports(path) == [
        "flavor_model.py:2 imports tensorflow",
        "flavor_model.py:3 imports mlflow_tflite",
        "flavor_model.py:5 imports .flavor_spec",
    ]


def test_a_saved_model_carries_its_loader_and_requires_only_mlflow_litert_and_numpy(
    float_model, tmp_path
):
    mlflow_tflite.save_model(float_model, tmp_path / "model")

    pyfunc_conf = Model.load(str(tmp_path / "model")).flavors["python_function"]
    package = tmp_path / "model" / "code" / flavor_code.loader_package()
    assert pyfunc_conf["loader_module"] == f"{flavor_code.loader_package()}.flavor_pyfunc"
    assert pyfunc_conf["code"] == "code"
    assert sorted(p.name for p in package.iterdir()) == sorted(["__init__.py",
                                                                *flavor_code.CARRIED])
    for name in flavor_code.CARRIED:
        assert (package / name).read_bytes() == (SOURCES / name).read_bytes()
    requirements = (tmp_path / "model" / "requirements.txt").read_text().split()
    assert [r.split("==")[0] for r in requirements] == ["mlflow", "ai-edge-litert", "numpy"]
    assert all("==" in r for r in requirements)
    conda = yaml.safe_load((tmp_path / "model" / "conda.yaml").read_text())
    assert conda["dependencies"][-1]["pip"] == requirements


def test_the_carried_loader_reads_the_flavor_section_by_the_flavors_name():
    from mlflow_tflite import flavor_pyfunc

    assert flavor_pyfunc.FLAVOR_NAME == mlflow_tflite.FLAVOR_NAME == "tflite"


def test_the_loader_package_is_named_after_the_carried_sources():
    name = flavor_code.loader_package()

    assert name.startswith(flavor_code.PACKAGE_PREFIX)
    assert name.isidentifier() and len(name) == len(flavor_code.PACKAGE_PREFIX) + 12


def test_a_logged_model_loads_and_predicts_without_the_package_or_tensorflow(
    tracking_uri, int8_model, tmp_path
):
    with mlflow.start_run():
        info = mlflow_tflite.log_model(int8_model, name="digits")
    x = images(4)
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys\n"
        f"for name in {BLOCKED!r}:\n"
        "    sys.modules[name] = None  # importing it now raises ImportError\n"
        "import mlflow, numpy as np\n"
        f"model = mlflow.pyfunc.load_model({info.model_uri!r})\n"
        "np.save('y.npy', model.predict(np.load('x.npy')))\n"
        "print(type(model.get_raw_model()).__module__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=300)

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-1] == f"{flavor_code.loader_package()}.flavor_model"
    expected = raw_predict(int8_model, {"image": x})["logits"]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected)


def test_user_code_paths_are_carried_beside_the_loader(float_model, tmp_path):
    helper = tmp_path / "labels.py"
    helper.write_text("LABELS = list('0123456789')\n")

    mlflow_tflite.save_model(float_model, tmp_path / "model", code_paths=[str(helper)])

    code = tmp_path / "model" / "code"
    assert sorted(p.name for p in code.iterdir()) == sorted(["labels.py",
                                                             flavor_code.loader_package()])
    x = images(2)
    np.testing.assert_allclose(mlflow.pyfunc.load_model(str(tmp_path / "model")).predict(x),
                               raw_predict(float_model, {"image": x})["logits"])


def test_user_code_named_like_the_loader_package_is_refused_and_nothing_is_written(
    float_model, tmp_path
):
    clash = tmp_path / flavor_code.loader_package()
    clash.mkdir()
    (clash / "__init__.py").write_text("")

    with pytest.raises(MlflowException, match="name of the tflite flavor's own loader") as error:
        mlflow_tflite.save_model(float_model, tmp_path / "model", code_paths=[str(clash)])

    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    assert not (tmp_path / "model").exists()
