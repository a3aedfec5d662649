"""The quantization schemes, one module per scheme, each defining `SCHEME`
(`mlflow_tflite.plugins.scheme.Scheme`); found by walking this package
(`plugins.scheme.all_schemes`). `float16.py` is the shortest example.
"""
