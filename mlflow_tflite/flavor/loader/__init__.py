"""The `python_function` loader of `tflite` models, carried inside every saved model.

`save_model` copies this package, with `mlflow_tflite/litert.py` beside it, into the
model's `code/` directory as a package of its own (`flavor.carry`), and the MLmodel's
`loader_module` names its `pyfunc`. A model therefore loads wherever MLflow serves it, from
its own files and its requirements (`mlflow`, `ai-edge-litert`, `numpy`): no checkout, no
installed `mlflow_tflite`, no TensorFlow. So these modules import only the standard
library, numpy, pandas (installed with MLflow), MLflow and LiteRT, one another relatively,
and `mlflow_tflite.litert`, which the carried copy imports as its sibling `.litert`
(`tests/flavor/test_carried.py` reads their imports).
"""

# The flavor's name, and the MLmodel section the loader reads: defined here, once, because
# the carried loader cannot import anything else of the package.
FLAVOR_NAME = "tflite"
