"""Reading params YAML strictly: what PyYAML would read differently from what a person
wrote is an error naming the key, never a silent value.

PyYAML reads YAML 1.1 and forgives a lot of a hand-edited file. Refused here:
- a key twice in one mapping (PyYAML keeps the last one, silently);
- a second document after `---` (`safe_load` refuses it, with no hint why);
- `<<` merge keys (a merge is shallow: a merged `convert` block is replaced whole, not
  merged key by key);
- an empty value (`key:` with nothing after it is null, usually a value forgotten or the
  next lines indented wrong); write `null` when you mean none;
- numbers YAML 1.1 reads in another base: `1:30` (base 60: 90), `0755` (octal: 493);
- `yes`, `no`, `on`, `off` (any case) where the key does not take a boolean: YAML 1.1
  reads them as true/false, so `quantization: no` or a variant named `no` is not the
  text it looks like. Where the key is a switch they keep meaning true/false; whether it
  is, the schema says (`boolean_doubts`), so this module only records them (`Doubt`);
- a key YAML reads as something other than a name (`on:`, `1:`, `~:`): params keys are
  names.
A tab in the indentation, which YAML does not allow, is named as such.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Union

import yaml

KeyPath = tuple[str | int, ...]

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_OCTAL = re.compile(r"[-+]?0[0-7_]+")


class YamlError(ValueError):
    """A YAML text that does not say what it looks like; `str()` is one line."""

    def __init__(self, path: KeyPath, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{key_path(path)}: {message}" if path else message)


@dataclass(frozen=True)
class Doubt:
    """A plain `yes`/`no`/`on`/`off` that YAML read as a boolean, at `path`."""

    path: KeyPath
    text: str
    value: bool

    def error(self) -> YamlError:
        return YamlError(self.path, f"{self.text} is read as the boolean "
                         f"{str(self.value).lower()} in YAML; quote it ('{self.text}') for "
                         "the text")


def key_path(path: KeyPath) -> str:
    """('variants', 3, 'compress') -> 'variants[3].compress'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def load_yaml(text: str, prefix: KeyPath = ()) -> tuple[Any, list[Doubt]]:
    """The value of a one-document YAML text and the booleans it spelled yes/no/on/off.

    `prefix` is where the text sits in the params (a `--set` value's key path).

    Raises:
        YamlError: the text is not YAML, or says something it does not look like (one
            line naming the key path, or the line).
    """
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise _syntax_error(text, error) from None
    documents = [d for d in documents if not _empty(d)] or documents[:1]
    if len(documents) > 1:
        line = documents[1].start_mark.line + 1
        raise YamlError(prefix, f"a second YAML document starts at line {line} (after "
                        "`---`); a params file is one document")
    if not documents or _empty(documents[0]):
        return None, []
    doubts: list[Doubt] = []
    _check(documents[0], prefix, doubts, set())
    return _construct(documents[0]), doubts


def _empty(node: yaml.Node | None) -> bool:
    return node is None or (node.tag == _NULL and node.value == "")


def _syntax_error(text: str, error: yaml.YAMLError) -> YamlError:
    mark = getattr(error, "problem_mark", None)
    if mark is None:
        return YamlError((), "not valid YAML")
    line = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
    if "\t" in line:
        return YamlError((), f"not valid YAML at line {mark.line + 1}: a tab character; "
                         "YAML indents and separates with spaces")
    return YamlError((), f"not valid YAML at line {mark.line + 1}")


def _check(node: yaml.Node, path: KeyPath, doubts: list[Doubt], active: set[int]) -> None:
    if id(node) in active:
        raise YamlError(path, "an alias refers to a value that contains it")
    if isinstance(node, yaml.MappingNode):
        active.add(id(node))
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                raise YamlError(path, "a `<<` merge key: merges are shallow (a merged block "
                                "is replaced whole); write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError(path, f"line {key_node.start_mark.line + 1}: a key that is "
                                "a list or a mapping; keys are names")
            # Compared as YAML constructs them: `1` and `01` are both the int 1.
            key = _construct(key_node)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                meaning = ("null" if key is None else f"the boolean {str(key).lower()}"
                           if isinstance(key, bool) else f"the number {key}")
                raise YamlError((*path, key_node.value), f"the key is read as {meaning} in "
                                f"YAML, not as a name; quote it ('{key_node.value}')")
            if key in seen:
                raise YamlError((*path, key), f"the key is written twice (lines {seen[key]} "
                                f"and {line}); YAML would keep only the last")
            seen[key] = line
            _check(value_node, (*path, key), doubts, active)
        active.discard(id(node))
    elif isinstance(node, yaml.SequenceNode):
        active.add(id(node))
        for index, item in enumerate(node.value):
            _check(item, (*path, index), doubts, active)
        active.discard(id(node))
    elif isinstance(node, yaml.ScalarNode) and node.style is None:
        _check_plain(node, path, doubts)


def _construct(node: yaml.Node) -> Any:
    return yaml.SafeLoader("").construct_document(node)


def _check_plain(node: yaml.ScalarNode, path: KeyPath, doubts: list[Doubt]) -> None:
    text = node.value
    if node.tag == _NULL and text == "":
        raise YamlError(path, "no value after the key (YAML reads it as null); write the "
                        "value, `null` for none, or delete the key")
    if node.tag == _BOOL and text.lower() not in ("true", "false"):
        doubts.append(Doubt(path, text, text.lower() in ("yes", "on")))
    elif node.tag in (_INT, _FLOAT) and ":" in text:
        value = _construct(node)
        raise YamlError(path, f"{text} is read as the number {value:g} in YAML (base 60); "
                        f"quote it ('{text}') for the text")
    elif node.tag == _INT and _OCTAL.fullmatch(text):
        value = _construct(node)
        raise YamlError(path, f"{text} is read as the octal number {value} in YAML; write "
                        f"{text.lstrip('+-0_') or '0'} for the number or quote it "
                        f"('{text}') for the text")


def boolean_doubts(model: type, doubts: list[Doubt]) -> YamlError | None:
    """The first doubt at a key of `model` (a pydantic model) that takes no boolean.

    A doubt at a path the model does not know is left to validation (an unknown key).
    """
    for doubt in doubts:
        if _takes_bool(model, doubt.path) is False:
            return doubt.error()
    return None


def _takes_bool(annotation: Any, path: KeyPath) -> bool | None:
    """Whether the value at `path` under `annotation` may be a boolean (None: unknown)."""
    annotation = _unwrap(annotation)
    if not path:
        return _is_bool(annotation)
    head, rest = path[0], path[1:]
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        answers = [_takes_bool(arm, path) for arm in typing.get_args(annotation)]
        known = [a for a in answers if a is not None]
        return any(known) if known else None
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        field = annotation.model_fields.get(head) if isinstance(head, str) else None
        return None if field is None else _takes_bool(field.annotation, rest)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset) or (
        isinstance(origin, type) and issubclass(origin, typing.Sequence)  # type: ignore[arg-type]
    ):
        return _takes_bool(args[0], rest) if args and isinstance(head, int) else None
    if origin is dict or (isinstance(origin, type) and issubclass(origin, typing.Mapping)):  # type: ignore[arg-type]
        return _takes_bool(args[1], rest) if len(args) == 2 else None
    return None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_bool(annotation: Any) -> bool:
    annotation = _unwrap(annotation)
    if annotation is bool:
        return True
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_bool(arm) for arm in typing.get_args(annotation))
    if origin is typing.Literal:
        return any(isinstance(arg, bool) for arg in typing.get_args(annotation))
    return False
