"""The plug-in declarations: what a compression technique is (`technique.Technique`) and
what a quantization scheme is (`scheme.Scheme`), with the registries that find them.

The plug-ins themselves are modules of `mlflow_tflite.compress` and
`mlflow_tflite.convert.schemes`, imported by discovery on the first lookup, so the config
(which validates `compress.<technique>` blocks and `convert.quantization` against these
registries) sits below the packages that implement them, and no import runs back up.
"""
