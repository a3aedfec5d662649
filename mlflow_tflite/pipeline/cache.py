"""The incremental artifact store: baseline, variants and measurements under content keys.

A key is the hash of everything that decides an artifact: the data version, the params
section that configures the step, the keys of the artifacts it is built from, and the
code version (a hash of the library sources the step runs, plus the framework versions).
Reruns with the same inputs find the artifact and skip the step; changing one variant's
params changes only that variant's key.

Entries are directories written to a temporary name and renamed into place, so a crash or
a concurrent flow never leaves a half-written entry behind. Each entry's `meta.json` records
the sha256 of every file in it, checked on every read: an entry damaged on disk (a
truncated `.tflite`, an edited file) is discarded with a warning and its step runs again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
CHECKSUMS = "checksums"
META_FILE = "meta.json"
logger = logging.getLogger(__name__)

# Library sources (relative to the package) each step runs; a change to any reruns the step.
# The pipeline's own modules are in each: they decide how the library is called (e.g.
# sparse encoding) and what an entry holds.
_PIPELINE = (
    "pipeline/steps.py", "pipeline/measuring.py", "pipeline/handles.py", "pipeline/keys.py",
    "pipeline/cache.py", "pipeline/prefixes.py",
)
STEP_SOURCES: dict[str, tuple[str, ...]] = {
    # Synthetic data takes its input shape from a Keras 3 or .tflite model; labelled
    # data its classes and input scaling from any model file (train/facts.py).
    "prepare": ("data", "config/data.py", "train/kinds.py", "train/keras3.py",
                "train/tflite_baseline.py", "train/facts.py", *_PIPELINE),
    "baseline": ("train", "_tf.py", "config/train.py", *_PIPELINE),
    "build": ("train", "compress", "convert", "_tf.py", "config/variants.py", *_PIPELINE),
    "measure": ("measure", "litert.py", "config/benchmark.py", "targets", "config/targets.py",
                *_PIPELINE),
    # What turns stored results into a flow run's MLflow runs, reports and promotion (the
    # logged models carry litert.py and the flavor's loader modules).
    "flow": ("tracking", "registry", "flavor", "litert.py", *_PIPELINE,
             "../flows/optimize.py",
             "../flows/tasks.py"),
}
# Frameworks whose version changes what a step produces.
STEP_PACKAGES: dict[str, tuple[str, ...]] = {
    "prepare": ("numpy", "scikit-learn", "mlxtend"),
    "baseline": ("tensorflow", "tf-keras"),
    "build": ("tensorflow", "tf-keras", "tensorflow-model-optimization"),
    "measure": ("ai-edge-litert", "tflite-micro"),
    "flow": ("mlflow",),
}


def content_key(*parts: Any) -> str:
    """A stable hex key for JSON-serialisable parts (dict order does not matter)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


@cache
def code_version(step: str) -> str:
    """Hash of the sources and framework versions behind `step` (see STEP_SOURCES)."""
    digest = hashlib.sha256()
    for relative in STEP_SOURCES[step]:
        target = PACKAGE_ROOT / relative
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for path in files:
            if path.is_file():
                digest.update(str(path.resolve().relative_to(PACKAGE_ROOT.parent)).encode())
                digest.update(path.read_bytes())
    for package in STEP_PACKAGES[step]:
        digest.update(f"{package}=={_package_version(package)}".encode())
    return digest.hexdigest()[:16]


class ArtifactStore:
    """Directories of files under `<root>/<kind>/<key>/`, each with a `meta.json`.

    Args:
        root: where entries live; created on first write.
        enabled: False makes every lookup a miss (a forced rebuild), writes still happen.

    Example:
        >>> store = ArtifactStore(".mlflow_tflite/cache")
        >>> if (entry := store.get("build", key)) is None:
        ...     with store.put("build", key, {"variant": "int8"}) as tmp:
        ...         (tmp / "model.tflite").write_bytes(flatbuffer)
    """

    def __init__(self, root: str | Path, enabled: bool = True) -> None:
        self.root = Path(root)
        self.enabled = enabled

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def get(self, kind: str, key: str) -> Path | None:
        """The entry directory, or None when missing (or the store is disabled).

        An entry whose files no longer match their recorded sha256 is discarded with a
        warning, so the caller rebuilds it.
        """
        entry = self.path(kind, key)
        if not (self.enabled and (entry / META_FILE).is_file()):
            return None
        problem = _damage(entry)
        if problem is None:
            return entry
        logger.warning("artifact store entry %s/%s is damaged (%s); discarded, it will be "
                       "built again", kind, key, problem)
        self._discard(kind, key)
        return None

    def meta(self, kind: str, key: str) -> dict[str, Any]:
        """The `meta.json` of an existing entry (without the store's checksums)."""
        meta = json.loads((self.path(kind, key) / META_FILE).read_text())
        meta.pop(CHECKSUMS, None)
        return meta

    def _discard(self, kind: str, key: str) -> None:
        stale = self.root / kind / f".stale-{uuid.uuid4().hex}"
        with contextlib.suppress(OSError):  # a concurrent reader discarded it first
            os.replace(self.path(kind, key), stale)
        shutil.rmtree(stale, ignore_errors=True)

    @contextlib.contextmanager
    def put(self, kind: str, key: str, meta: dict[str, Any]) -> Iterator[Path]:
        """Yield a temporary directory to fill; on success it becomes the entry.

        `meta` is written last, after the body ran, so the caller may still add to it.
        An exception in the body discards the directory and leaves any old entry in place.
        """
        parent = self.root / kind
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=parent))
        try:
            yield tmp
            record = {**meta, CHECKSUMS: _checksums(tmp)}
            (tmp / META_FILE).write_text(json.dumps(record, indent=2, sort_keys=True,
                                                    default=str))
            final = self.path(kind, key)
            if final.exists():
                # A forced rebuild or a concurrent flow: swap so readers never see a gap.
                self._discard(kind, key)
            with contextlib.suppress(OSError):  # another writer won the race: same content
                os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _checksums(entry: Path) -> dict[str, str]:
    """sha256 of every file in an entry but its meta, by relative path."""
    return {
        str(path.relative_to(entry)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(entry.rglob("*"))
        if path.is_file() and path.name != META_FILE
    }


def _damage(entry: Path) -> str | None:
    """What is wrong with an entry on disk, or None when its files match their checksums."""
    try:
        recorded = json.loads((entry / META_FILE).read_text()).get(CHECKSUMS)
    except (OSError, ValueError) as error:
        return f"unreadable {META_FILE}: {error}"
    if not isinstance(recorded, dict):
        return "no checksums recorded"
    found = _checksums(entry)
    for name, digest in recorded.items():
        if name not in found:
            return f"{name} is missing"
        if found[name] != digest:
            return f"{name} does not match its sha256"
    return None
