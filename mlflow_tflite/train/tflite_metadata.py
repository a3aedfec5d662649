"""TFLite Metadata of a `.tflite` file: the input normalization and the class labels.

A model published for the TFLite Task Library (or written by tflite-support's metadata
writers, MediaPipe Model Maker, ...) carries a `TFLITE_METADATA` buffer: a `ModelMetadata`
flatbuffer (tflite-support's `metadata_schema.fbs`, file identifier `M001`). Two of its
fields say how to feed the model and what its scores mean:
- the first input tensor's `process_units`: `NormalizationOptions` mean and std, applied
  to 0..255 pixels as `(x - mean) / std`;
- the first output tensor's `associated_files` of type `TENSOR_AXIS_LABELS`: a text file,
  zipped into the model file, one class name per line.

tflite-support itself pins an old protobuf, so this module reads just those fields with
the `flatbuffers` runtime's table accessors; the slot numbers below are the fields' order
in `metadata_schema.fbs`.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

METADATA_NAME = b"TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
# metadata_schema.fbs: ModelMetadata.subgraph_metadata; SubGraphMetadata.input/output_
# tensor_metadata; TensorMetadata.process_units and associated_files; ProcessUnit's
# union (options_type, options); NormalizationOptions mean, std; AssociatedFile name, type.
_SUBGRAPHS = 3
_INPUTS, _OUTPUTS = 2, 3
_PROCESS_UNITS, _TENSOR_FILES = 4, 6
_OPTIONS_TYPE, _OPTIONS = 0, 1
_MEAN, _STD = 0, 1
_FILE_NAME, _FILE_TYPE = 0, 2
# ProcessUnitOptions.NormalizationOptions; AssociatedFileType.TENSOR_AXIS_LABELS.
_NORMALIZATION = 1
_AXIS_LABELS = 2


@dataclass(frozen=True)
class TfliteMetadata:
    """What a `.tflite` file's metadata says (None: it does not say).

    `mean`/`std`: the first input's normalization, `(x - mean) / std` on 0..255 pixels;
    `labels`: the first output's class names, from the label file `label_file`.
    """

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None
    label_file: str | None = None


def read_tflite_metadata(content: bytes) -> TfliteMetadata | None:
    """The normalization and labels in a TFLite flatbuffer's metadata; None when it carries
    no `TFLITE_METADATA`, or metadata this reader cannot parse (the model still runs: its
    metadata is only advice, so a damaged one is ignored rather than refused)."""
    buffer = _metadata_buffer(content)
    if buffer is None:
        return None
    try:
        return _parse(buffer, content)
    # A damaged flatbuffer raises whatever its offsets lead to.
    except (IndexError, ValueError, TypeError, UnicodeDecodeError, zipfile.BadZipFile):
        return None


def _metadata_buffer(content: bytes) -> bytes | None:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    for index in range(model.MetadataLength()):
        entry = model.Metadata(index)
        if entry.Name() != METADATA_NAME:
            continue
        stored = model.Buffers(entry.Buffer())
        # Models over 2 GB keep buffers after the flatbuffer, addressed by offset and size.
        if stored.Offset() > 1:
            return content[stored.Offset():stored.Offset() + stored.Size()]
        return stored.DataAsNumpy().tobytes() if stored.DataLength() else None
    return None


def _parse(buffer: bytes, content: bytes) -> TfliteMetadata | None:
    from flatbuffers import util
    from flatbuffers.table import Table

    if not util.BufferHasIdentifier(buffer, 0, FILE_IDENTIFIER):
        return None
    root = Table(bytearray(buffer), int.from_bytes(buffer[:4], "little"))
    subgraphs = _tables(root, _SUBGRAPHS)
    if not subgraphs:
        return None
    inputs, outputs = _tables(subgraphs[0], _INPUTS), _tables(subgraphs[0], _OUTPUTS)
    mean = std = None
    for unit in _tables(inputs[0], _PROCESS_UNITS) if inputs else []:
        if _byte(unit, _OPTIONS_TYPE) == _NORMALIZATION and (options := _union(unit)):
            mean, std = _floats(options, _MEAN), _floats(options, _STD)
            break
    label_file = None
    for file in _tables(outputs[0], _TENSOR_FILES) if len(outputs) == 1 else []:
        if _byte(file, _FILE_TYPE) == _AXIS_LABELS:
            label_file = _string(file, _FILE_NAME)
            break
    labels = _labels(content, label_file) if label_file else None
    return TfliteMetadata(mean or None, std or None, labels, label_file)


def _labels(content: bytes, name: str) -> tuple[str, ...] | None:
    """One class name per line of the file zipped into the model (trailing blank lines
    dropped); None when the model does not hold it."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            text = archive.read(name).decode("utf-8")
    except (zipfile.BadZipFile, KeyError):
        return None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return tuple(lines) or None


def _field(table: Any, slot: int) -> int:
    """The position of field `slot` in `table`, 0 when absent."""
    return table.Offset(4 + 2 * slot)


def _tables(table: Any, slot: int) -> list[Any]:
    from flatbuffers.table import Table

    where = _field(table, slot)
    if not where:
        return []
    start = table.Vector(where)
    return [Table(table.Bytes, table.Indirect(start + 4 * i))
            for i in range(table.VectorLen(where))]


def _union(table: Any) -> Any:
    from flatbuffers.table import Table

    where = _field(table, _OPTIONS)
    if not where:
        return None
    found = Table(bytearray(), 0)
    table.Union(found, where)
    return found


def _byte(table: Any, slot: int) -> int:
    from flatbuffers import number_types

    where = _field(table, slot)
    return table.Get(number_types.Uint8Flags, table.Pos + where) if where else 0


def _floats(table: Any, slot: int) -> tuple[float, ...]:
    from flatbuffers import number_types

    where = _field(table, slot)
    if not where:
        return ()
    start = table.Vector(where)
    return tuple(float(table.Get(number_types.Float32Flags, start + 4 * i))
                 for i in range(table.VectorLen(where)))


def _string(table: Any, slot: int) -> str | None:
    where = _field(table, slot)
    return table.String(table.Pos + where).decode("utf-8") if where else None
