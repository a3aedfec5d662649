"""The `tflite` MLflow flavor: TensorFlow Lite flatbuffers as MLflow models.

Produces MLflow Models with two flavors:

tflite (native)
    `load_model` returns a `TFLiteModel` (a LiteRT interpreter with `.predict(x)`,
    `.input_details`, `.output_details`).
:py:mod:`mlflow.pyfunc`
    For `mlflow.pyfunc.load_model(uri).predict(x)` and `mlflow models serve`.

Only LiteRT and numpy are needed to load a model: TensorFlow is never imported here. Every
model carries its pyfunc loader (`flavor.loader`) in its `code/` directory (`flavor.carry`),
so `mlflow models serve` builds its environment from the model alone: no checkout, no
`mlflow_tflite` installed. What saving records is `flavor.spec`.

Example:
    >>> import mlflow, mlflow_tflite
    >>> info = mlflow_tflite.log_model("model.tflite", name="model",
    ...                                registered_model_name="digits")
    >>> mlflow.pyfunc.load_model(info.model_uri).predict(images)
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml
from mlflow import pyfunc
from mlflow.models import Model, ModelInputExample, ModelSignature
from mlflow.models.model import MLMODEL_FILE_NAME
from mlflow.models.utils import _save_example
from mlflow.tracking._model_registry import DEFAULT_AWAIT_MAX_SLEEP_SECONDS
from mlflow.tracking.artifact_utils import _download_artifact_from_uri
from mlflow.utils.environment import (
    _CONDA_ENV_FILE_NAME,
    _CONSTRAINTS_FILE_NAME,
    _PYTHON_ENV_FILE_NAME,
    _REQUIREMENTS_FILE_NAME,
    _mlflow_conda_env,
    _process_conda_env,
    _process_pip_requirements,
    _PythonEnv,
    _validate_env_arguments,
)
from mlflow.utils.file_utils import get_total_file_size, write_to
from mlflow.utils.model_utils import (
    _add_code_from_conf_to_system_path,
    _get_flavor_configuration,
    _validate_and_copy_code_paths,
    _validate_and_prepare_target_save_path,
)
from mlflow.utils.requirements_utils import _get_pinned_requirement

from mlflow_tflite.flavor import carry, spec
from mlflow_tflite.flavor.loader import FLAVOR_NAME, load
from mlflow_tflite.flavor.loader import pyfunc as loader_pyfunc
from mlflow_tflite.flavor.loader.model import TFLiteModel
from mlflow_tflite.litert import DEFAULT_DELEGATE, named_tensors

_MODEL_FILE = load.MODEL_FILE
# Where MLflow copies `code_paths`; the carried loader goes beside them.
_CODE_DIR = "code"


def get_default_pip_requirements() -> list[str]:
    """What loading a model needs: LiteRT and numpy, pinned to the installed versions.

    TensorFlow is deliberately absent so a served model does not install it.
    """
    return [_get_pinned_requirement("ai-edge-litert"), _get_pinned_requirement("numpy")]


def get_default_conda_env() -> dict[str, Any]:
    """The conda environment of models saved without `conda_env` or `pip_requirements`."""
    return _mlflow_conda_env(additional_pip_deps=get_default_pip_requirements())


def save_model(
    tflite_model: bytes | str | os.PathLike,
    path: str | os.PathLike,
    signature: ModelSignature | None = None,
    input_example: ModelInputExample | None = None,
    metadata: dict[str, Any] | None = None,
    mlflow_model: Model | None = None,
    conda_env: dict | str | None = None,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    num_threads: int | None = None,
    delegate: str = DEFAULT_DELEGATE,
    code_paths: list[str] | None = None,
) -> None:
    """Save a TFLite flatbuffer as an MLflow model in a local directory.

    The flatbuffer is first loaded into a LiteRT interpreter with the given options and
    its tensors allocated; a model LiteRT cannot run is refused and nothing is written.

    Args:
        tflite_model: the flatbuffer as bytes, or a path to a `.tflite` file.
        path: the directory to create (must not exist, or be empty).
        signature: the model signature; inferred from the model's tensors when None.
        input_example: an example batch (array, dict of arrays or DataFrame).
        metadata: free-form metadata for the MLmodel file; a `quantization` key (a name
            of `mlflow_tflite.convert.schemes.scheme_names()`) overrides the scheme read
            from the model's tensors; `recipe` (the ai-edge-quantizer recipe) and
            `keep_float` (the ops left in float) are also recorded in the `tflite` section.
        mlflow_model: the `Model` this flavor is added to (set by `log_model`).
        conda_env, pip_requirements, extra_pip_requirements: as in MLflow's flavors;
            the default is `get_default_pip_requirements()`.
        num_threads: interpreter threads at load time; None lets LiteRT choose.
        delegate: `xnnpack` (LiteRT's default), `builtin`, `reference` or
            `external:/path/lib.so`.
        code_paths: local code files or directories added to the model.

    Raises:
        MlflowException: INVALID_PARAMETER_VALUE when the model is missing, empty, not a
            flatbuffer, uses an op LiteRT cannot resolve (named), or an option is invalid.

    Example:
        >>> mlflow_tflite.save_model(converter.convert(), "digits_model")
    """
    _validate_env_arguments(conda_env, pip_requirements, extra_pip_requirements)
    spec.validate_options(num_threads, delegate)
    content = load.read_model_bytes(tflite_model)
    runner = load.open_runner(content, delegate=delegate, threads=num_threads)
    metadata = dict(metadata) if metadata else None
    # log_model's metadata reaches us on mlflow_model (Model.log sets it there).
    declared = {**((mlflow_model.metadata or {}) if mlflow_model else {}), **(metadata or {})}
    section = spec.flavor_section(
        content,
        runner.interpreter,
        _MODEL_FILE,
        quantization=declared.get("quantization"),
        num_threads=num_threads,
        delegate=delegate,
        conversion=declared,
    )
    if signature is None:
        inputs, outputs = named_tensors(runner.interpreter)
        signature = spec.infer_signature(inputs, outputs)

    path = os.path.abspath(path)
    existed = os.path.exists(path)
    _validate_and_prepare_target_save_path(path)
    try:
        _validate_and_copy_code_paths(code_paths, path, default_subpath=_CODE_DIR)
        carry.carry_loader(Path(path, _CODE_DIR))
        if mlflow_model is None:
            mlflow_model = Model()
        mlflow_model.signature = signature
        if input_example is not None:
            _save_example(mlflow_model, input_example, path)
        if metadata is not None:
            mlflow_model.metadata = metadata
        Path(path, _MODEL_FILE).write_bytes(content)

        pyfunc.add_to_model(
            mlflow_model,
            loader_module=carry.loader_module(),
            data=_MODEL_FILE,
            conda_env=_CONDA_ENV_FILE_NAME,
            python_env=_PYTHON_ENV_FILE_NAME,
            code=_CODE_DIR,
        )
        mlflow_model.add_flavor(FLAVOR_NAME, code=_CODE_DIR, **section)
        if size := get_total_file_size(path):
            mlflow_model.model_size_bytes = size
        mlflow_model.save(os.path.join(path, MLMODEL_FILE_NAME))

        if conda_env is None:
            # No requirement inference (MLflow's would load the model in a subprocess and add
            # whatever that process imported): loading needs exactly the defaults.
            default_reqs = get_default_pip_requirements() if pip_requirements is None else None
            conda_env, pip_requirements, pip_constraints = _process_pip_requirements(
                default_reqs, pip_requirements, extra_pip_requirements
            )
        else:
            conda_env, pip_requirements, pip_constraints = _process_conda_env(conda_env)
        with open(os.path.join(path, _CONDA_ENV_FILE_NAME), "w") as f:
            yaml.safe_dump(conda_env, stream=f, default_flow_style=False)
        if pip_constraints:
            write_to(os.path.join(path, _CONSTRAINTS_FILE_NAME), "\n".join(pip_constraints))
        write_to(os.path.join(path, _REQUIREMENTS_FILE_NAME), "\n".join(pip_requirements))
        _PythonEnv.current().to_yaml(os.path.join(path, _PYTHON_ENV_FILE_NAME))
    except BaseException:
        # A failed save leaves nothing behind, not a directory without its MLmodel.
        if existed:
            for child in Path(path).iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)
        raise


def _load_pyfunc(path: str) -> Any:
    """The `loader_module` of models saved by release 0.1.0 (`mlflow_tflite.flavor`), which
    carry no loader of their own: loaded by the installed package."""
    return loader_pyfunc._load_pyfunc(path)


def load_model(model_uri: str, dst_path: str | None = None) -> TFLiteModel:
    """Load a model saved or logged with this flavor.

    Args:
        model_uri: a local path, `runs:/<run_id>/<name>`, `models:/<model_id>`,
            `models:/<name>/<version>`, `models:/<name>@<alias>` or any artifact URI.
        dst_path: an existing local directory to download into; a temporary one if None.

    Returns:
        A TFLiteModel with `.predict(x)`, `.input_details` and `.output_details`.

    Raises:
        MlflowException: DATA_LOSS when the model file does not match its recorded sha256.

    Example:
        >>> model = mlflow_tflite.load_model("models:/digits@champion")
        >>> model.predict(images)
    """
    local_path = _download_artifact_from_uri(artifact_uri=model_uri, output_path=dst_path)
    flavor_conf = _get_flavor_configuration(model_path=local_path, flavor_name=FLAVOR_NAME)
    _add_code_from_conf_to_system_path(local_path, flavor_conf)
    return loader_pyfunc.load_flavor_model(local_path, flavor_conf)


def log_model(
    tflite_model: bytes | str | os.PathLike,
    name: str = "model",
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: ModelInputExample | None = None,
    metadata: dict[str, Any] | None = None,
    conda_env: dict | str | None = None,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    num_threads: int | None = None,
    delegate: str = DEFAULT_DELEGATE,
    code_paths: list[str] | None = None,
    await_registration_for: int | None = DEFAULT_AWAIT_MAX_SLEEP_SECONDS,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    step: int = 0,
    model_id: str | None = None,
    **kwargs: Any,
):
    """Log a TFLite flatbuffer as an MLflow model (to the active run, if there is one).

    Args:
        tflite_model: the flatbuffer as bytes, or a path to a `.tflite` file.
        name: the model's name within the run.
        registered_model_name: also register it as a new version of this model.
        await_registration_for: seconds to wait for the version to be READY (0/None: don't).
        params, tags, step, model_id: as in `mlflow.models.Model.log`.
        Other arguments: as in `save_model`.

    Returns:
        The `ModelInfo` of the logged model (`.model_uri`, `.registered_model_version`).

    Raises:
        MlflowException: as `save_model`, before anything is logged.

    Example:
        >>> with mlflow.start_run():
        ...     info = mlflow_tflite.log_model(tflite_bytes, name="model",
        ...                                    registered_model_name="digits")
    """
    # Validate before Model.log, which creates a LoggedModel entry first: an invalid model
    # must leave nothing in the tracking store.
    spec.validate_options(num_threads, delegate)
    content = load.read_model_bytes(tflite_model)
    load.open_runner(content, delegate=delegate, threads=num_threads)
    return Model.log(
        name=name,
        artifact_path=None,
        flavor=sys.modules[__name__],
        tflite_model=content,
        registered_model_name=registered_model_name,
        signature=signature,
        input_example=input_example,
        metadata=metadata,
        conda_env=conda_env,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        num_threads=num_threads,
        delegate=delegate,
        code_paths=code_paths,
        await_registration_for=await_registration_for,
        params=params,
        tags=tags,
        step=step,
        model_id=model_id,
        **kwargs,
    )
