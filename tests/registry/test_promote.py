"""promote_flow_run against real stores: SQLite and a PostgreSQL-backed `mlflow server`."""

from __future__ import annotations

import json

import mlflow
import pytest
from mlflow import MlflowClient

import mlflow_tflite
from mlflow_tflite.config.promote import PromoteConfig
from mlflow_tflite.registry import PromotionError, promote_flow_run
from mlflow_tflite.registry.lock import lock_name
from tests.registry.flowruns import metrics

POLICY = PromoteConfig.model_validate(
    {"objective": ["size_bytes", "latency_p50_ms"], "constraints": {"max_accuracy_drop": 0.02}}
)


def champion(client: MlflowClient, name: str, alias: str = "champion"):
    return client.get_model_version_by_alias(name, alias)


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}


def test_first_promotion_registers_the_winner_with_tags_and_moves_champion(
    backend, flow, model_name
) -> None:
    parent = flow(
        {
            "dynamic": metrics(size_bytes=20_000),
            "int8": metrics(size_bytes=9_000),
            "int16x8": metrics(size_bytes=8_000, accuracy_delta=-0.05),
            "broken": metrics(),
        },
        failed=["broken"],
    )
    decision = promote_flow_run(parent, model_name, POLICY)

    client = MlflowClient()
    target = decision.target()
    assert (target.outcome, target.winner, target.ranking) == (
        "promoted",
        "int8",
        ["int8", "dynamic"],
    )
    assert decision.ignored == {"broken": "FAILED"}
    assert target.failures == {"int16x8": ["accuracy drop 0.05 > max_accuracy_drop 0.02"]}
    version = champion(client, model_name)
    assert str(version.version) == target.version
    run = client.get_run(version.run_id)
    assert run.data.tags["mlflow_tflite.variant"] == "int8"
    tags = version.tags
    assert tags["size_bytes"] == "9000" and tags["accuracy_delta"] == "-0.005"
    assert tags["xnnpack/latency_p50_ms"] == "1"
    assert {k: tags[k] for k in ("technique", "quantization", "delegate", "data_version")} == {
        "technique": "none",
        "quantization": "int8",
        "delegate": "xnnpack",
        "data_version": "data-v1",
    }
    assert tags["mlflow_tflite.variant"] == "int8"
    assert tags["mlflow_tflite.source_run"] == version.run_id
    assert tags["mlflow_tflite.flow_run"] == parent
    assert tags["mlflow_tflite.previous.champion"] == ""
    assert version.description.endswith(decision.summary)
    assert "int8 wins on size_bytes" in decision.summary
    assert "(int16x8: accuracy drop 0.05 > max_accuracy_drop 0.02)" in decision.summary
    logged = mlflow.artifacts.load_dict(f"runs:/{parent}/promotion.json")
    assert logged["targets"][0]["version"] == str(version.version)
    assert logged["summary"] == decision.summary
    # The registered version is the logged tflite model, loadable by the flavor.
    model = mlflow_tflite.load_model(f"models:/{model_name}@champion")
    assert list(model.input_details[0]["shape"])[1:] == [8, 8, 1]
    # The lock is gone after the promotion.
    assert lock_name(model_name) not in [m.name for m in client.search_registered_models()]
    # The logged model read back lists its version once (the UI shows it as registered).
    logged_model = client.get_logged_model(version.source.removeprefix("models:/"))
    assert json.loads(logged_model.tags["mlflow.modelVersions"]) == [
        {"name": model_name, "version": int(version.version)}]
    # Every child run carries its verdict.
    children = client.search_runs([run.info.experiment_id],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    assert {c.data.tags["mlflow_tflite.variant"]: c.data.tags.get("mlflow_tflite.verdict")
            for c in children} == {
        "int8": "champion", "dynamic": "passed",
        "int16x8": "refused: accuracy drop 0.05 > max_accuracy_drop 0.02", "broken": None}


def test_promoting_again_links_the_logged_model_to_its_version_once(
    backend, flow, model_name
) -> None:
    parent = flow({"int8": metrics()})
    promote_flow_run(parent, model_name, POLICY)
    promote_flow_run(parent, model_name, POLICY)
    client = MlflowClient()
    version = champion(client, model_name)
    logged_model = client.get_logged_model(version.source.removeprefix("models:/"))
    linked = json.loads(logged_model.tags["mlflow.modelVersions"])
    assert [(e["name"], str(e["version"])) for e in linked] == [(model_name, "1")]


def test_a_child_without_a_model_uri_tag_registers_its_runs_model(
    backend, flow, model_name
) -> None:
    parent = flow({"int8": metrics()}, model_uri_tag=False)
    version = promote_flow_run(parent, model_name, POLICY).target().version
    registered = MlflowClient().get_model_version(model_name, version)
    assert registered.source.startswith("models:/m-")
    assert mlflow_tflite.load_model(f"models:/{model_name}/{version}").input_details


def test_a_better_champion_stays_and_the_winner_becomes_challenger(
    backend, flow, model_name
) -> None:
    first = promote_flow_run(flow({"small": metrics(size_bytes=5_000)}), model_name, POLICY)
    second = promote_flow_run(flow({"bigger": metrics(size_bytes=6_000)}), model_name, POLICY)

    target = second.target()
    assert target.outcome == "challenger"
    assert target.reason == "the champion is better on size_bytes (5,000 B vs. 6,000 B)"
    assert aliases(MlflowClient(), model_name) == {
        "champion": first.target().version,
        "challenger": target.version,
    }
    assert "champion stays on version 1" in second.summary


def test_a_worse_champion_is_replaced_and_remembered(backend, flow, model_name) -> None:
    first = promote_flow_run(flow({"big": metrics(size_bytes=9_000)}), model_name, POLICY)
    second = promote_flow_run(flow({"small": metrics(size_bytes=4_000)}), model_name, POLICY)

    client = MlflowClient()
    target = second.target()
    assert (target.outcome, target.champion_before) == ("promoted", first.target().version)
    new = champion(client, model_name)
    assert str(new.version) == target.version
    assert new.tags["mlflow_tflite.previous.champion"] == first.target().version
    assert "it beats the champion on size_bytes (4,000 B vs. 9,000 B)" in second.summary


def test_a_tie_on_every_objective_replaces_the_champion(backend, flow, model_name) -> None:
    promote_flow_run(flow({"a": metrics()}), model_name, POLICY)
    second = promote_flow_run(flow({"b": metrics()}), model_name, POLICY)
    assert second.target().outcome == "promoted"
    assert "ties the champion" in second.target().reason


def test_a_challenger_promoted_later_reuses_its_version_and_drops_the_challenger_alias(
    backend, flow, model_name
) -> None:
    promote_flow_run(flow({"a": metrics(size_bytes=5_000)}), model_name, POLICY)
    parent = flow({"b": metrics(size_bytes=6_000, latency_p50_ms=0.5)})
    challenger = promote_flow_run(parent, model_name, POLICY).target()
    assert challenger.outcome == "challenger"
    # The team now ranks by latency first: the same flow run's version moves up.
    latency_first = POLICY.model_copy(update={"objective": ["latency_p50_ms", "size_bytes"]})
    again = promote_flow_run(parent, model_name, latency_first).target()

    assert (again.outcome, again.version) == ("promoted", challenger.version)
    client = MlflowClient()
    assert aliases(client, model_name) == {"champion": challenger.version}
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 2


def test_promoting_the_same_flow_run_twice_adds_nothing(backend, flow, model_name) -> None:
    parent = flow({"int8": metrics()})
    first = promote_flow_run(parent, model_name, POLICY)
    second = promote_flow_run(parent, model_name, POLICY)
    assert second.target().outcome == "already_champion"
    assert second.target().version == first.target().version
    client = MlflowClient()
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 1
    # The champion keeps the record of the promotion that made it champion.
    assert client.get_model_version(model_name, "1").description.endswith(first.summary)
    assert "is already champion (version 1); no alias moved" in second.summary


def test_no_variant_passing_promotes_nothing_and_registers_the_closest_as_challenger(
    backend, flow, model_name
) -> None:
    promote_flow_run(flow({"ok": metrics(size_bytes=50_000)}), model_name, POLICY)
    strict = PromoteConfig.model_validate(
        {
            "objective": ["size_bytes"],
            "constraints": {"max_accuracy_drop": 0.01, "max_size_bytes": 8_000},
        }
    )
    decision = promote_flow_run(
        flow(
            {
                "both": metrics(accuracy_delta=-0.05, size_bytes=9_000),
                "big": metrics(size_bytes=12_000),
                "lossy": metrics(accuracy_delta=-0.02, size_bytes=7_000),
            }
        ),
        model_name,
        strict,
    )
    target = decision.target()
    assert (target.outcome, target.winner, target.closest) == ("no_winner", None, "lossy")
    assert target.failures == {
        "both": [
            "accuracy drop 0.05 > max_accuracy_drop 0.01",
            "size_bytes 9,000 B > max_size_bytes 8,000",
        ],
        "big": ["size_bytes 12,000 B > max_size_bytes 8,000"],
        "lossy": ["accuracy drop 0.02 > max_accuracy_drop 0.01"],
    }
    client = MlflowClient()
    assert aliases(client, model_name) == {"champion": "1", "challenger": target.version}
    assert "No variant meets the constraints (big: size_bytes 12,000 B" in decision.summary
    assert "the closest, lossy" in decision.summary


def test_targets_promote_a_variant_each_under_their_own_alias(backend, flow, model_name) -> None:
    policy = PromoteConfig.model_validate(
        {
            "objective": ["size_bytes"],
            "targets": {
                "cpu": {"objective": ["latency_p50_ms"]},
                "gpu": {"constraints": {"gpu_compatible": True}},
            },
        }
    )
    decision = promote_flow_run(
        flow(
            {
                "fast": metrics(latency_p50_ms=0.3, size_bytes=20_000),
                "gpu": metrics(gpu_compatible=1.0, size_bytes=15_000),
                "tiny": metrics(size_bytes=3_000),
            }
        ),
        model_name,
        policy,
    )
    assert (decision.target("cpu").winner, decision.target("gpu").winner) == ("fast", "gpu")
    assert decision.target("gpu").failures == {
        "fast": ["not GPU-compatible"],
        "tiny": ["not GPU-compatible"],
    }
    client = MlflowClient()
    assert aliases(client, model_name) == {
        "champion-cpu": decision.target("cpu").version,
        "champion-gpu": decision.target("gpu").version,
    }
    assert "Target cpu: fast wins" in decision.summary
    assert "Target gpu: gpu wins" in decision.summary


def test_one_variant_winning_two_targets_is_one_version_with_both_aliases(
    backend, flow, model_name
) -> None:
    policy = PromoteConfig.model_validate(
        {"objective": ["size_bytes"], "targets": {"cpu": {}, "edge": {}}}
    )
    decision = promote_flow_run(
        flow({"a": metrics(size_bytes=1_000), "b": metrics(size_bytes=2_000)}), model_name, policy
    )
    client = MlflowClient()
    assert aliases(client, model_name) == {"champion-cpu": "1", "champion-edge": "1"}
    version = client.get_model_version(model_name, "1")
    assert version.tags["mlflow_tflite.targets"] == "cpu:champion-cpu,edge:champion-edge"
    assert version.tags["mlflow_tflite.previous.champion-cpu"] == ""
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 1
    assert [t.outcome for t in decision.targets] == ["promoted", "promoted"]


def test_champion_on_another_data_version_is_remeasured_before_comparing(
    backend, flow, model_name
) -> None:
    first = promote_flow_run(
        flow({"old": metrics(size_bytes=5_000)}, data_version="data-v1"), model_name, POLICY
    )
    seen: list[str] = []

    def remeasure(model_uri: str) -> dict[str, float]:
        seen.append(model_uri)
        # On the new data the old champion loses too much accuracy: it fails the gates now.
        return {"accuracy_delta": -0.04}

    decision = promote_flow_run(
        flow({"new": metrics(size_bytes=7_000)}, data_version="data-v2"),
        model_name,
        POLICY,
        remeasure=remeasure,
    )
    target = decision.target()
    assert seen == [f"models:/{model_name}/{first.target().version}"]
    assert target.remeasured and target.outcome == "promoted"
    assert "re-measured on data version data-v2" in target.reason


def test_remeasured_champion_that_still_wins_stays(backend, flow, model_name) -> None:
    promote_flow_run(
        flow({"old": metrics(size_bytes=5_000)}, data_version="data-v1"), model_name, POLICY
    )
    decision = promote_flow_run(
        flow({"new": metrics(size_bytes=7_000)}, data_version="data-v2"),
        model_name,
        POLICY,
        remeasure=lambda uri: {"accuracy_delta": -0.001},
    )
    assert decision.target().outcome == "challenger"
    assert "the champion is better on size_bytes" in decision.target().reason


def test_champion_on_another_data_version_without_remeasure_is_not_comparable(
    backend, flow, model_name
) -> None:
    first = promote_flow_run(
        flow({"old": metrics(size_bytes=9_000)}, data_version="data-v1"), model_name, POLICY
    )
    decision = promote_flow_run(
        flow({"new": metrics(size_bytes=1_000)}, data_version="data-v2"), model_name, POLICY
    )
    target = decision.target()
    assert target.outcome == "challenger"
    assert target.reason == (
        f"champion version {first.target().version} was measured on data version data-v1, "
        "not data-v2, and no re-measurement was available, so the two are not comparable"
    )
    assert aliases(MlflowClient(), model_name)["champion"] == first.target().version


def test_a_champion_that_changed_during_the_promotion_is_compared_again(
    backend, flow, model_name
) -> None:
    promote_flow_run(
        flow({"a": metrics(size_bytes=9_000)}, data_version="data-v1"), model_name, POLICY
    )
    rival = flow({"c": metrics(size_bytes=1_000)}, data_version="data-v1")
    remeasured: list[str] = []

    def promote_rival_meanwhile(version) -> None:
        # Runs after our evaluation and before our lock: another promotion wins the race.
        promote_flow_run(rival, model_name, POLICY)

    def remeasure(model_uri: str) -> dict[str, float]:
        remeasured.append(model_uri)
        return {}

    decision = promote_flow_run(
        flow({"b": metrics(size_bytes=5_000)}, data_version="data-v2"),
        model_name,
        POLICY,
        remeasure=remeasure,
        validate=promote_rival_meanwhile,
    )
    target = decision.target()
    # First compared with a (beaten), then, inside the lock, found c: measured and lost to.
    assert remeasured == [f"models:/{model_name}/1", f"models:/{model_name}/3"]
    assert (target.outcome, target.champion_before) == ("challenger", "3")
    assert target.reason.startswith("the champion is better on size_bytes (1,000 B vs. 5,000 B)")
    assert aliases(MlflowClient(), model_name) == {"champion": "3", "challenger": "2"}


def test_a_failing_validation_between_registering_and_aliasing_moves_no_alias(
    backend, flow, model_name
) -> None:
    first = promote_flow_run(flow({"big": metrics(size_bytes=9_000)}), model_name, POLICY)

    def validate(version) -> None:
        raise RuntimeError("smoke prediction failed")

    with pytest.raises(PromotionError, match="failed validation, no alias moved"):
        promote_flow_run(
            flow({"small": metrics(size_bytes=1_000)}), model_name, POLICY, validate=validate
        )
    client = MlflowClient()
    assert aliases(client, model_name) == {"champion": first.target().version}
    (registered,) = [
        v for v in client.search_model_versions(f"name = '{model_name}'") if str(v.version) != "1"
    ]
    assert registered.status == "READY"
    assert registered.tags["mlflow_tflite.promotion_error"] == "smoke prediction failed"


def test_a_failure_while_moving_aliases_puts_back_the_ones_already_moved(
    backend, flow, model_name
) -> None:
    policy = PromoteConfig.model_validate(
        {
            "objective": ["size_bytes"],
            "targets": {"cpu": {}, "gpu": {"constraints": {"gpu_compatible": True}}},
        }
    )
    first = promote_flow_run(
        flow({"a": metrics(size_bytes=9_000, gpu_compatible=1.0)}), model_name, policy
    )
    client = MlflowClient()
    before = aliases(client, model_name)
    assert before == {"champion-cpu": "1", "champion-gpu": "1"}
    gpu_run = []

    def delete_the_gpu_version(version) -> None:
        # A real failure after validation: the gpu winner's version vanishes (an admin
        # deletes it), so moving champion-gpu fails after champion-cpu has moved.
        if version.tags["mlflow_tflite.variant"] == "gpu":
            gpu_run.append(version.run_id)
            client.delete_model_version(model_name, version.version)

    with pytest.raises(PromotionError, match="every alias is back where it was"):
        promote_flow_run(
            flow(
                {
                    "cpu": metrics(size_bytes=1_000),
                    "gpu": metrics(size_bytes=2_000, gpu_compatible=1.0),
                }
            ),
            model_name,
            policy,
            validate=delete_the_gpu_version,
        )
    assert gpu_run and aliases(client, model_name) == before
    assert first.target("cpu").version == "1"


def test_dry_run_changes_nothing(backend, flow, model_name) -> None:
    promote_flow_run(flow({"big": metrics(size_bytes=9_000)}), model_name, POLICY)
    client = MlflowClient()
    before = [
        (v.version, v.description, sorted(v.tags.items()), v.aliases)
        for v in client.search_model_versions(f"name = '{model_name}'")
    ]
    parent = flow({"small": metrics(size_bytes=1_000)})
    decision = promote_flow_run(parent, model_name, POLICY, dry_run=True)

    assert decision.dry_run and decision.target().outcome == "promoted"
    assert decision.target().version is None
    assert decision.summary.startswith("Dry run (nothing changed): ")
    assert "a new version would take alias champion" in decision.summary
    after = [
        (v.version, v.description, sorted(v.tags.items()), v.aliases)
        for v in client.search_model_versions(f"name = '{model_name}'")
    ]
    assert after == before
    assert [a.path for a in client.list_artifacts(parent)] == []


def test_dry_run_on_a_new_model_creates_no_registered_model(backend, flow, model_name) -> None:
    decision = promote_flow_run(flow({"a": metrics()}), model_name, POLICY, dry_run=True)
    assert decision.target().outcome == "promoted"
    assert model_name not in [m.name for m in MlflowClient().search_registered_models()]


def test_disabled_policy_changes_nothing(backend, flow, model_name) -> None:
    off = POLICY.model_copy(update={"enabled": False})
    decision = promote_flow_run(flow({"a": metrics()}), model_name, off)
    assert decision.targets == []
    assert "disabled" in decision.summary
    assert model_name not in [m.name for m in MlflowClient().search_registered_models()]


def test_a_flow_run_with_only_failed_variants_registers_nothing(backend, flow, model_name) -> None:
    decision = promote_flow_run(flow({"a": metrics()}, failed=["a"]), model_name, POLICY)
    assert decision.target().outcome == "no_variants"
    assert decision.ignored == {"a": "FAILED"}
    assert json.loads(json.dumps(decision.to_dict()))["targets"][0]["outcome"] == "no_variants"


def test_waiting_for_ready_gives_up_on_a_pending_version(sqlite_uri, flow, model_name) -> None:
    import sqlite3

    from mlflow_tflite.registry.policy import Candidate
    from mlflow_tflite.registry.versions import (
        ensure_registered_model,
        register,
        wait_ready,
    )

    parent = flow({"a": metrics()})
    (child,) = MlflowClient().search_runs(
        [MlflowClient().get_run(parent).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent}'",
    )
    candidate = Candidate(
        "a",
        child.info.run_id,
        child.data.metrics,
        child.data.tags,
        f"runs:/{child.info.run_id}/model",
    )
    ensure_registered_model(MlflowClient(), model_name)
    version = register(MlflowClient(), model_name, candidate, parent, ready_timeout_s=5)
    # OSS stores register synchronously; a registry that copies artifacts reports PENDING.
    with sqlite3.connect(sqlite_uri.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE model_versions SET status = 'PENDING_REGISTRATION'")
    with pytest.raises(PromotionError, match="not READY after 0.3s"):
        wait_ready(MlflowClient(), model_name, version.version, timeout_s=0.3)
    with sqlite3.connect(sqlite_uri.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE model_versions SET status = 'FAILED_REGISTRATION'")
    with pytest.raises(PromotionError, match="failed registration"):
        wait_ready(MlflowClient(), model_name, version.version, timeout_s=5)
