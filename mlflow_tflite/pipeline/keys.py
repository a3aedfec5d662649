"""The content keys of the flow's steps: what decides each step's result in the store.

A key hashes the params section a step reads, the keys it builds on, the content of the
files it reads (a data folder, the user's model, a quantizer recipe) and the code version.
`inputs_key` names a whole flow run, so a rerun with nothing changed is recognised without
starting Prefect or TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlflow_tflite.config import CompressConfig, Params, TrainConfig, VariantConfig
from mlflow_tflite.pipeline.cache import ArtifactStore, code_version, content_key


def prepare_key(params: Params) -> str:
    from mlflow_tflite.data.synthetic import SYNTHETIC

    data = params.data.model_dump(mode="json", exclude={"output_dir"})
    # Synthetic inputs take their shape from the model; labelled data its class count
    # and whether it rescales its own inputs.
    source = (None if params.data.source == SYNTHETIC
              else _source_digest(params.data.source))
    return content_key("prepare", data, source, _model_source(params.train.model),
                       code_version("prepare"))


def _path_digest(path: Path) -> str:
    """sha256 over a file's bytes, or a folder's file names and bytes."""
    import hashlib

    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else "").encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _source_digest(source: str) -> str:
    """A digest of a `.npz` or folder data source, so new data under the same path is
    prepared again; the bundled sources are covered by the code version's packages."""
    path = Path(source)
    return _path_digest(path) if path.exists() else source


def _model_source(spec: str) -> str:
    """A digest of what `train.model` (or an `evaluate` entry) points at: a model file or a
    function's module, so editing the user's code redoes the step; `builtin` (and the
    built-in evaluators) are covered by the code version."""
    import importlib.util

    path = Path(spec)
    if spec != "builtin" and ":" in spec and not path.exists():
        found = importlib.util.find_spec(spec.partition(":")[0])
        path = Path(found.origin) if found and found.origin else path
    return _path_digest(path) if path.exists() else spec


def baseline_key(params: Params, data_version: str) -> str:
    # Trusting the model's code changes whether it loads, not what it trains to.
    train = params.train.model_dump(mode="json", exclude={"trust_model_code"})
    return content_key("baseline", data_version, train,
                       _model_source(params.train.model), code_version("baseline"))


def build_key(base_key: str, variant: VariantConfig) -> str:
    # The name is left out: renaming a variant reuses its build.
    recipe = variant.model_dump(mode="json", exclude={"name"})
    # A user's quantizer recipe is a file: its content, not its path, makes the build.
    recipe_file = getattr(variant.convert, "recipe", None)
    digest = _path_digest(Path(recipe_file)) if recipe_file else None
    return content_key("build", base_key, recipe, digest, code_version("build"))


def prefix_key(base_key: str, compress: CompressConfig, steps: list[str],
               train: TrainConfig) -> str:
    """The key of the model after a variant's first `steps`: their blocks in order and the
    fine-tune settings they read (the baseline key covers the whole `train` section too),
    not the later steps nor the convert block, so variants that start alike share it."""
    blocks = [(name, getattr(compress, name).model_dump(mode="json")) for name in steps]
    return content_key("prefix", base_key, blocks, train.batch_size, train.seed,
                       code_version("build"))


def measure_key(build: str, base_key: str, params: Params) -> str:
    benchmark = params.benchmark.model_dump(mode="json")
    # The user's `evaluate` functions: editing their module measures again.
    evaluate = [(spec, _model_source(spec)) for spec in params.evaluate]
    parts: list[Any] = ["measure", build, base_key, benchmark, evaluate, code_version("measure")]
    if params.targets:  # a params file without targets keeps its stored measurements
        parts.append({name: t.model_dump(mode="json") for name, t in params.targets.items()})
    return content_key(*parts)


def prepared_version(params: Params, store: ArtifactStore, key: str) -> str | None:
    """The data version in `data.output_dir` when the store prepared it under `key` (this
    `data` section, source and code) and it still hashes to that version; else None."""
    from mlflow_tflite.data import DataError, load_dataset

    directory = Path(params.data.output_dir)
    if store.get("prepare", key) is None or not directory.is_dir():
        return None
    recorded = store.meta("prepare", key)["version"]
    # Read from disk, not load_prepared's memo: the files may have changed since
    # (a `dvc checkout`, a long-running `schedule` process).
    try:
        return recorded if load_dataset(directory).version == recorded else None
    except DataError:  # damaged since: prepare it again
        return None


def inputs_key(params: Params, store: ArtifactStore) -> str | None:
    """The key of everything a flow run's results follow from (data, params, code), when
    the store holds every step's result for them; None while some step would compute.

    A finished flow run is tagged with it, so `mlflow-tflite run` can tell that nothing
    changed since that run without starting Prefect or TensorFlow. The task runner is left
    out: threads and a Dask cluster produce the same results.
    """
    # A --no-cache run (a disabled store) still filled the store.
    keys = _stored_keys(params, ArtifactStore(store.root))
    if keys is None:
        return None
    settings = params.model_dump(mode="json", exclude={"runner"})
    return content_key("flow", keys, settings, code_version("flow"))


def _stored_keys(params: Params, store: ArtifactStore) -> list[Any] | None:
    """The store keys of every step of a flow run of `params`, or None when one is missing."""
    version = prepared_version(params, store, prepare_key(params))
    if version is None:
        return None
    base = baseline_key(params, version)
    if store.get("baseline", base) is None:
        return None
    from mlflow_tflite.train.support import applicable_variants

    keys: list[Any] = [version, base]
    for variant in applicable_variants(params):
        build = build_key(base, variant)
        measure = measure_key(build, base, params)
        if store.get("build", build) is None or store.get("measure", measure) is None:
            return None
        keys.append((variant.name, build, measure))
    return keys
