"""`mlflow models generate-dockerfile -m models:/NAME@champion`: the build context holds
everything the image needs. Without a Docker daemon, the Dockerfile's Python steps run in a
fresh virtualenv of the image's Python version, on the context's files alone, and its
entrypoint serves the model."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.flavor.conftest import images
from tests.flavor.raw import raw_predict
from tests.flavor.serving import (
    COMPRESSION_STACK,
    PYENV_BIN,
    Server,
    importable,
    post,
    register_champion,
    serve,
    serve_env,
)
from tests.servers import BIN_DIR

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (PYENV_BIN / "pyenv").exists(),
                       reason="pyenv is not installed: no Python of the image's version"),
]
# Dockerfile steps that set up the operating system (apt, nginx, permissions), which a
# virtualenv has no use for; every other RUN step must be a Python one and is run.
SYSTEM_STEP = re.compile(r"^(apt-get |apt |printf .*/etc/apt/|chmod |rm -rf /var/lib/apt)")


@dataclass
class Image:
    """The Dockerfile's image emulated in a directory: `root/opt/...` for `/opt/...`."""

    root: Path
    python: Path
    env: dict[str, str]
    entrypoint: list[str]

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def run(self, command: str) -> None:
        command = command.replace(" /opt/", f" {self.root}/opt/").replace("'/opt/",
                                                                         f"'{self.root}/opt/")
        subprocess.run(["bash", "-c", command], cwd=self.path("/opt/mlflow"), env=self.env,
                       check=True, timeout=1800)


def build(context: Path, root: Path) -> Image:
    """Follow the Dockerfile in `context`: its Python, its COPY and Python RUN steps."""
    lines = re.sub(r"\\\n", " ", (context / "Dockerfile").read_text()).splitlines()
    (version,) = [m.group(1) for line in lines if (m := re.match(r"FROM python:(\S+)-slim", line))]
    pyenv = str(PYENV_BIN / "pyenv")
    subprocess.run([pyenv, "install", "--skip-existing", version], check=True, timeout=1800)
    pyenv_root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
    venv = root / "python"
    subprocess.run([f"{pyenv_root}/versions/{version}/bin/python", "-m", "venv", str(venv)],
                   check=True)
    env = serve_env(PATH=f"{venv / 'bin'}:/usr/bin:/bin")
    image = Image(root, venv / "bin" / "python", env, [])
    image.path("/opt/mlflow").mkdir(parents=True)
    for line in lines:
        instruction, _, argument = line.partition(" ")
        if instruction == "COPY":
            source, target = shlex.split(argument)
            shutil.copytree(context / source, image.path(target))
        elif instruction == "ENV":
            key, _, value = argument.partition("=")
            env[key] = value
        elif instruction == "RUN" and not SYSTEM_STEP.match(argument):
            assert argument.startswith(("pip ", "python ")), f"unexpected step: {line}"
            image.run(argument)
        elif instruction == "ENTRYPOINT":
            image.entrypoint = json.loads(argument)
    return image


@pytest.fixture(scope="module")
def image(tmp_path_factory, _migrated_sqlite, int8_model) -> Image:
    workspace = tmp_path_factory.mktemp("docker")
    shutil.copy(_migrated_sqlite, workspace / "mlflow.db")
    uri = register_champion(workspace, int8_model, "docker-digits")
    subprocess.run([str(BIN_DIR / "mlflow"), "models", "generate-dockerfile", "-m",
                    "models:/docker-digits@champion", "-d", "context"], cwd=workspace,
                   env=serve_env(MLFLOW_TRACKING_URI=uri), check=True, capture_output=True,
                   timeout=300)
    (workspace / "mlflow.db").unlink()  # the image has only the context
    return build(workspace / "context", workspace / "image")


@pytest.fixture(scope="module")
def server(image: Image) -> Iterator[Server]:
    python, flag, code = image.entrypoint
    assert (python, flag) == ("python", "-c")
    # The container's paths and port moved into the emulated image; nginx (a proxy in front
    # of the same scoring server) left out.
    redirect = (f"C.MODEL_PATH = {str(image.path('/opt/ml/model'))!r}; "
                "C.DEFAULT_INFERENCE_SERVER_PORT = int('{port}'); ")
    code = code.replace("C._serve(", redirect + "C._serve(")
    env = {**image.env, "DISABLE_NGINX": "true", "MLFLOW_MODELS_WORKERS": "1"}
    with serve([str(image.python), "-c", code], image.root, env, timeout=300) as running:
        yield running


def test_the_context_holds_the_model_with_its_loader_and_no_checkout(image):
    model = image.path("/opt/ml/model")

    assert (model / "model.tflite").is_file()
    (package,) = (model / "code").iterdir()
    assert package.name.startswith("mlflow_tflite_loader_")
    requirements = (model / "requirements.txt").read_text().split()
    assert [r.split("==")[0] for r in requirements] == ["mlflow", "ai-edge-litert", "numpy"]


def test_the_image_python_has_the_requirements_and_nothing_of_the_project(image):
    found = importable(image.python, ("mlflow", "ai_edge_litert", "numpy", *COMPRESSION_STACK),
                       image.root)

    assert [m for m in ("mlflow", "ai_edge_litert", "numpy") if not found[m]] == []
    assert [m for m in COMPRESSION_STACK if found[m]] == []


def test_the_image_entrypoint_serves_right_answers_and_400s(server, int8_model):
    x = images(3)
    url = f"{server.url}/invocations"

    status, body = post(url, json.dumps({"inputs": x.tolist()}).encode())
    assert status == 200, body
    np.testing.assert_allclose(np.array(body["predictions"], np.float32),
                               raw_predict(int8_model, {"image": x})["logits"])
    status, body = post(url, json.dumps({"inputs": x[:, :7].tolist()}).encode())
    assert status == 400, body
    bad = x.copy()
    bad[1, 2, 3, 0] = np.nan
    status, body = post(url, json.dumps({"inputs": bad.tolist()}).encode())
    assert status == 400 and "NaN or infinite" in body["message"], body
    assert post(url, json.dumps({"inputs": x[:1].tolist()}).encode())[0] == 200
