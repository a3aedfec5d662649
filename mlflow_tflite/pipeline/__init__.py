"""The flow's steps as library functions over an incremental, content-keyed artifact store."""

from mlflow_tflite.pipeline.cache import ArtifactStore, code_version, content_key

DEFAULT_CACHE_DIR = ".mlflow_tflite/cache"

__all__ = ["DEFAULT_CACHE_DIR", "ArtifactStore", "code_version", "content_key"]
