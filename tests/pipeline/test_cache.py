"""The content-keyed artifact store behind incremental reruns."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_tflite.pipeline.cache import ArtifactStore, code_version, content_key


def test_content_key_ignores_mapping_order_and_changes_with_any_part():
    assert content_key({"a": 1, "b": 2}) == content_key({"b": 2, "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2})
    assert content_key("x", {"a": 1}) != content_key("y", {"a": 1})


def test_code_version_is_stable_and_differs_per_step():
    assert code_version("build") == code_version("build")
    assert code_version("build") != code_version("measure")


def test_put_then_get_returns_the_entry_with_its_meta(tmp_path: Path):
    store = ArtifactStore(tmp_path)
    assert store.get("build", "k1") is None
    with store.put("build", "k1", {"variant": "int8"}) as tmp:
        (tmp / "model.tflite").write_bytes(b"flatbuffer")
    entry = store.get("build", "k1")
    assert entry is not None
    assert (entry / "model.tflite").read_bytes() == b"flatbuffer"
    assert store.meta("build", "k1") == {"variant": "int8"}


def test_a_failing_writer_leaves_no_entry_and_no_temporary_files(tmp_path: Path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(RuntimeError), store.put("build", "k1", {}) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("conversion failed")
    assert store.get("build", "k1") is None
    assert list((tmp_path / "build").iterdir()) == []


def test_rewriting_an_entry_replaces_it(tmp_path: Path):
    store = ArtifactStore(tmp_path)
    for content in (b"old", b"new"):
        with store.put("build", "k1", {}) as tmp:
            (tmp / "model.tflite").write_bytes(content)
    assert (store.get("build", "k1") / "model.tflite").read_bytes() == b"new"
    assert [p.name for p in (tmp_path / "build").iterdir()] == ["k1"]


def test_a_disabled_store_misses_but_still_writes(tmp_path: Path):
    with ArtifactStore(tmp_path).put("build", "k1", {}):
        pass
    forced = ArtifactStore(tmp_path, enabled=False)
    assert forced.get("build", "k1") is None
    with forced.put("build", "k1", {"fresh": True}):
        pass
    assert ArtifactStore(tmp_path).meta("build", "k1") == {"fresh": True}


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda e: (e / "model.tflite").write_bytes(b"flat"), "model.tflite does not match"),
        (lambda e: (e / "model.tflite").unlink(), "model.tflite is missing"),
        (lambda e: (e / "meta.json").write_text("{"), "unreadable meta.json"),
        (lambda e: (e / "meta.json").write_text('{"variant": "int8"}'), "no checksums"),
    ],
)
def test_a_damaged_entry_is_discarded_with_a_warning_and_can_be_written_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage, problem: str
):
    store = ArtifactStore(tmp_path)
    with store.put("build", "k1", {"variant": "int8"}) as tmp:
        (tmp / "model.tflite").write_bytes(b"flatbuffer")
    assert store.meta("build", "k1") == {"variant": "int8"}  # checksums are the store's
    damage(store.path("build", "k1"))

    with caplog.at_level("WARNING", logger="mlflow_tflite.pipeline.cache"):
        assert store.get("build", "k1") is None
    assert f"artifact store entry build/k1 is damaged ({problem}" in caplog.text
    assert "discarded, it will be built again" in caplog.text
    assert list((tmp_path / "build").iterdir()) == []
    with store.put("build", "k1", {"variant": "int8"}) as tmp:
        (tmp / "model.tflite").write_bytes(b"flatbuffer")
    assert store.get("build", "k1") is not None


@pytest.mark.slow
def test_a_truncated_stored_build_is_rebuilt_not_reused_on_an_unchanged_rerun(tmp_path: Path):
    import yaml

    from tests.cli.faults import run_command
    from tests.flows.conftest import TINY_PARAMS

    params = {**TINY_PARAMS, "variants": TINY_PARAMS["variants"][:2],
              "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    first = run_command(["run", "--params", "params.yaml"], tmp_path)
    assert first.status == 0, first.lines[-20:]
    [model, *_] = sorted((tmp_path / ".mlflow_tflite/cache/build").glob("*/model.tflite"))
    model.write_bytes(model.read_bytes()[:100])

    again = run_command(["run", "--params", "params.yaml"], tmp_path)
    text = "\n".join(again.lines)
    assert again.status == 0, again.lines[-20:]
    assert "Nothing changed" not in text
    assert f"artifact store entry build/{model.parent.name} is damaged" in text
    # Its measurement is kept: it is keyed by the same inputs as the rebuilt model.
    assert "baseline reused; built 1, measured 0, reused 1 of 2 variants" in text
    assert len(model.read_bytes()) > 100  # rebuilt in place
