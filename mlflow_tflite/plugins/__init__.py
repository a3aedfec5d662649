"""The plug-in declarations: what a compression technique is (`technique.Technique`),
what a quantization scheme is (`scheme.Scheme`) and what a deployment target kind is
(`target.TargetKind`), with the registries that find them.

The plug-ins themselves are modules of `mlflow_tflite.compress`,
`mlflow_tflite.convert.schemes` and `mlflow_tflite.targets`, imported by discovery on the
first lookup, so the config (which validates `compress.<technique>` blocks,
`convert.quantization` and `targets` entries against these registries) sits below the
packages that implement them, and no import runs back up.
"""
