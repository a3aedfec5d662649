"""Deployment targets beyond this CPU: TFLite Micro, the runtime an app bundles, a device.

The `targets` section names where the model must run (`{mcu: {kind: tflm}}`); each
target measures every variant and logs its metrics and tags prefixed with its name
(`mcu/arena_bytes`, `mcu/compatible`), in the catalogue like any other metric. One
module per kind (`tflm`, `runtime`, `ssh`), found through `plugins.target`;
`targets.run.measure_targets` is what the measure step calls.
"""
