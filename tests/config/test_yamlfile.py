"""A params file whose YAML says something other than it looks like is refused with one
line naming the key (config/yamlfile.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_tflite.config import ParamsError, load_params

VARIANTS = "variants:\n  - name: fp32\n    convert: {quantization: none}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train:\n  epochs: 1\n  seed: 3\n  epochs: 5\n" + VARIANTS,
         "train.epochs: the key is written twice (lines 2 and 4); YAML would keep only the last"),
        (VARIANTS + "train: {epochs: 1}\ntrain: {epochs: 2}\n",
         "train: the key is written twice (lines 4 and 5)"),
        ("variants:\n  - name: no\n    convert: {quantization: none}\n",
         "variants[0].name: no is read as the boolean false in YAML; quote it ('no') for the "
         "text"),
        ("variants:\n  - name: int8\n    convert: {quantization: off}\n",
         "variants[0].convert.quantization: off is read as the boolean false in YAML"),
        (VARIANTS + "data: {source: On}\n",
         "data.source: On is read as the boolean true in YAML; quote it ('On') for the text"),
        (VARIANTS + "train: {seed: 0755}\n",
         "train.seed: 0755 is read as the octal number 493 in YAML; write 755 for the number "
         "or quote it ('0755') for the text"),
        (VARIANTS + "benchmark: {warmup_runs: 1:30}\n",
         "benchmark.warmup_runs: 1:30 is read as the number 90 in YAML (base 60); quote it "
         "('1:30') for the text"),
        (VARIANTS + "train:\n  epochs:\n  seed: 1\n",
         "train.epochs: no value after the key (YAML reads it as null); write the value, "
         "`null` for none, or delete the key"),
        (VARIANTS + "---\ntrain: {epochs: 1}\n",
         "a second YAML document starts at line 5 (after `---`); a params file is one "
         "document"),
        ("base: &base {quantization: int8}\n" + "variants:\n  - name: a\n    convert:\n"
         "      <<: *base\n      keep_float: [conv]\n",
         "variants[0].convert: a `<<` merge key: merges are shallow"),
        (VARIANTS + "promote:\n  targets:\n    on: {}\n",
         "promote.targets.on: the key is read as the boolean true in YAML, not as a name; "
         "quote it ('on')"),
        ("train:\n  epochs: 1\n\tseed: 2\n" + VARIANTS,
         "not valid YAML at line 3: a tab character; YAML indents and separates with spaces"),
    ],
)
def test_yaml_that_reads_differently_than_it_looks_is_refused_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ParamsError) as error:
        load_params(path)

    message = str(error.value)
    assert message == f"{path}: {expected}" or message.startswith(f"{path}: {expected}")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("variants.0.name=no", "variants[0].name: no is read as the boolean false"),
        ("train.seed=0755", "override train.seed: 0755 is read as the octal number 493"),
        ("variants.0.convert.quantization=1:30", "override variants.0.convert.quantization: "
         "1:30 is read as the number 90"),
    ],
)
def test_a_set_value_is_read_as_strictly_as_the_file(
    tmp_path: Path, override: str, expected: str
) -> None:
    path = write(tmp_path, VARIANTS)

    with pytest.raises(ParamsError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        load_params(path, [override])


def test_yes_and_no_keep_meaning_true_and_false_where_the_key_is_a_switch(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, VARIANTS + "search: {enabled: no, warm_start: yes}\n"
                 "benchmark: {cold_start: On}\n")

    params = load_params(path, ["search.warm_start=off"])

    assert (params.search.enabled, params.search.warm_start) == (False, False)
    assert params.benchmark.cold_start is True


def test_what_the_user_meant_loads(tmp_path: Path) -> None:
    # Quoted text, an explicit null, hex, an alias of a whole value, `---` before the
    # one document, and an override replacing a refused boolean.
    path = write(tmp_path, "---\nvariants:\n  - name: 'no'\n    convert: &int8 {quantization: "
                 "int8}\n  - name: again\n    convert: *int8\n  - name: x\n    convert: "
                 "{quantization: no}\ntrain: {seed: 0x10}\nmlflow: {tracking_uri: null}\n")

    params = load_params(path, ["variants.2.convert.quantization=none"])

    assert [v.name for v in params.variants] == ["no", "again", "x"]
    assert params.variants[1].convert.quantization == "int8"
    assert params.train.seed == 16
    assert params.mlflow.tracking_uri is None


def test_unknown_keys_are_refused_by_validation_not_by_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, VARIANTS + "train: {epoch: yes}\n")

    with pytest.raises(ParamsError, match=r"train\.epoch: unknown key$"):
        load_params(path)
