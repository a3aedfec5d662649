"""Read the weights of a converted `.tflite` model, to check what compression promised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlflow_tflite.litert import make_interpreter

# Ops whose second input is the kernel (TFLite layout: [out, ..., in]).
KERNEL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
# Ops that turn a stored kernel into the one the compute op reads.
PASS_THROUGH = ("DEQUANTIZE", "DENSIFY")


@dataclass
class Kernel:
    """One stored kernel: values in TFLite layout, or None when stored sparse-encoded."""

    op: str
    name: str
    dtype: str
    values: np.ndarray | None
    sparse: bool

    @property
    def sparsity(self) -> float:
        assert self.values is not None
        return float(np.mean(self.values == 0))

    def unique_per_kernel(self) -> int:
        assert self.values is not None
        return len(np.unique(self.values))

    def max_unique_per_channel(self) -> int:
        """Distinct values in the worst output channel (int8 conv kernels are per channel)."""
        assert self.values is not None
        flat = self.values.reshape(self.values.shape[0], -1)
        return max(len(np.unique(row)) for row in flat)


def kernels(flatbuffer: bytes) -> list[Kernel]:
    """The stored kernels of every conv / fully-connected op, in op order."""
    interpreter = make_interpreter(flatbuffer, delegate="builtin")
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    producer = {out: op for op in ops for out in op["outputs"]}
    found = []
    for op in ops:
        if op["op_name"] not in KERNEL_OPS:
            continue
        index = op["inputs"][1]
        while index in producer and producer[index]["op_name"] in PASS_THROUGH:
            index = producer[index]["inputs"][0]
        detail = details[index]
        sparse = bool(detail.get("sparsity_parameters"))
        values = None
        if not sparse:
            values = interpreter.get_tensor(index).copy()
        found.append(
            Kernel(
                op=op["op_name"],
                name=detail["name"],
                dtype=np.dtype(detail["dtype"]).name,
                values=values,
                sparse=sparse,
            )
        )
    return found


def io_dtypes(flatbuffer: bytes) -> tuple[list[str], list[str]]:
    """Input and output dtypes of the model."""
    interpreter = make_interpreter(flatbuffer, delegate="builtin")
    return (
        [np.dtype(d["dtype"]).name for d in interpreter.get_input_details()],
        [np.dtype(d["dtype"]).name for d in interpreter.get_output_details()],
    )


def activation_dtypes(flatbuffer: bytes) -> set[str]:
    """Dtypes of tensors that ops produce (activations), not stored weights."""
    interpreter = make_interpreter(flatbuffer, delegate="builtin")
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    return {
        np.dtype(details[out]["dtype"]).name
        for op in interpreter._get_ops_details()
        for out in op["outputs"]
        if op["op_name"] not in PASS_THROUGH
    }
