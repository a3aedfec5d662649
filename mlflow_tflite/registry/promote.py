"""Apply the promotion policy to a flow run: register, then move aliases under a lock.

Order of effects, so a failure at any step leaves every alias where it was:
1. evaluate the variants per target (pure, `policy.py`);
2. register the chosen variants as model versions and wait until they are READY;
3. run the caller's `validate` check on each new version;
4. under the model's promotion lock (`lock.py`): re-read each alias, compare against the
   champion that holds it *now*, record the previous champion on the new version, move
   the alias (undoing earlier moves of this promotion if one fails). A champion that
   changed since step 1 is read (and maybe re-measured) with the lock released, then
   step 4 starts again, so the lock is only ever held for a few registry calls;
5. write each new version's model card (`card.py`: `model_card.md`, summarised with the
   decision paragraph in its description), `promotion.json` on the flow run and each
   variant's verdict on its child run (`verdicts.py`).
Concurrent promotions of one model therefore serialize at step 4, and each compares
against the champion left by the one before it, as if they had run one after the other.
"""

from __future__ import annotations

from collections.abc import Callable

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from mlflow_tflite.config.promote import PromoteConfig
from mlflow_tflite.errors import first_line
from mlflow_tflite.registry import gates
from mlflow_tflite.registry.card import write_card
from mlflow_tflite.registry.champions import Champions, NotLoaded, Remeasure
from mlflow_tflite.registry.decision import SETTLED, Decision, TargetDecision
from mlflow_tflite.registry.lock import registry_lock
from mlflow_tflite.registry.policy import Candidate, Evaluation, against_champion, evaluate
from mlflow_tflite.registry.runs import read_flow_run
from mlflow_tflite.registry.verdicts import champion_of, verdicts
from mlflow_tflite.registry.versions import (
    PromotionError,
    alias_version,
    ensure_registered_model,
    previous_tag,
    register,
)
from mlflow_tflite.tracking.layout import PROMOTION_ERROR_TAG, SOURCE_RUN_TAG, TARGETS_TAG
from mlflow_tflite.tracking.runs import tag_verdicts

Validate = Callable[[ModelVersion], None]
DECISION_ARTIFACT = "promotion.json"


def _source_run(version: ModelVersion) -> str | None:
    return version.tags.get(SOURCE_RUN_TAG) or version.run_id


def _decide(
    evaluation: Evaluation,
    champion: ModelVersion | None,
    champions: Champions,
) -> TargetDecision:
    target = evaluation.target
    chosen = evaluation.chosen
    decision = TargetDecision(
        target=target.name,
        alias=target.alias,
        challenger_alias=target.challenger_alias,
        objective=list(target.objective),
        outcome="no_variants",
        reason="",
        winner=evaluation.winner.variant if evaluation.winner else None,
        closest=evaluation.closest.variant if evaluation.closest else None,
        ranking=[c.variant for c in evaluation.ranking],
        failures={v: [f.message for f in fs] for v, fs in evaluation.failures.items() if fs},
        run_id=chosen.run_id if chosen else None,
        metrics=dict(chosen.metrics) if chosen else {},
        champion_before=str(champion.version) if champion else None,
    )
    if chosen is None:
        decision.reason = "no finished variant run"
        return decision
    if evaluation.winner is None:
        decision.outcome = "no_winner"
        decision.reason = "no variant meets the constraints"
        decision.alias_moved = target.challenger_alias
        return decision
    if champion is None:
        decision.outcome = "promoted"
        decision.reason = "there is no champion yet"
        decision.alias_moved = target.alias
        return decision
    if _source_run(champion) == chosen.run_id:
        decision.outcome = "already_champion"
        decision.version = str(champion.version)
        decision.reason = "it already is the champion"
        return decision
    if sha := gates.identical_to_champion(chosen.model_uri, champion):
        decision.outcome = "identical"
        decision.version = str(champion.version)
        decision.reason = (f"its .tflite is byte-identical to version {champion.version} "
                           f"(sha256 {sha[:12]})")
        return decision
    metrics, note, remeasured = champions.metrics(champion)
    decision.champion_metrics = metrics
    decision.remeasured = remeasured
    if metrics is None:
        decision.outcome = "challenger"
        decision.reason = f"{note}, so the two are not comparable"
        decision.alias_moved = target.challenger_alias
        return decision
    verdict = against_champion(chosen.metrics, metrics, target)
    decision.reason = f"{verdict.reason}{f' ({note})' if note else ''}"
    decision.outcome = "promoted" if verdict.replace else "challenger"
    decision.alias_moved = target.alias if verdict.replace else target.challenger_alias
    return decision


def _move_aliases(
    client: MlflowClient, model_name: str, decisions: list[TargetDecision]
) -> None:
    """Set every alias the decisions name; on failure put back the ones already moved."""
    undo: list[tuple[str, str | None]] = []
    try:
        for decision in decisions:
            if decision.alias_moved is None or decision.version is None:
                continue
            alias = decision.alias_moved
            before = alias_version(client, model_name, alias)
            if decision.outcome == "promoted":
                client.set_model_version_tag(
                    model_name,
                    decision.version,
                    previous_tag(alias),
                    decision.champion_before or "",
                )
            client.set_registered_model_alias(model_name, alias, decision.version)
            undo.append((alias, str(before.version) if before else None))
            challenger = alias_version(client, model_name, decision.challenger_alias)
            if decision.outcome == "promoted" and challenger and (
                str(challenger.version) == decision.version
            ):
                client.delete_registered_model_alias(model_name, decision.challenger_alias)
                undo.append((decision.challenger_alias, decision.version))
    except BaseException:
        for alias, version in reversed(undo):
            if version is None:
                client.delete_registered_model_alias(model_name, alias)
            else:
                client.set_registered_model_alias(model_name, alias, version)
        raise


def promote_flow_run(
    parent_run_id: str,
    model_name: str,
    policy: PromoteConfig,
    *,
    client: MlflowClient | None = None,
    dry_run: bool = False,
    remeasure: Remeasure | None = None,
    validate: Validate | None = None,
) -> Decision:
    """Promote the best variant of a flow run per target, never regressing a champion.

    Args:
        parent_run_id: The flow's parent run; its FINISHED child runs tagged
            `mlflow_tflite.role=variant` are the candidates, others are ignored.
        model_name: Registered model whose aliases move.
        policy: The `promote` section of params.yaml.
        client: MLflow client (default: the current tracking and registry URIs).
        dry_run: Evaluate and compare against the current champions, change nothing.
        remeasure: Called with `models:/<name>/<version>` of a champion measured on
            another data version; returns its metrics on the current data. Without it
            such a champion is not comparable and the winner becomes challenger.
        validate: Called with each newly registered READY version before any alias
            moves (e.g. load it and predict); raising stops the promotion.

    Returns:
        The Decision; also logged as `promotion.json` on the parent run.

    Raises:
        PromotionError: registration, validation or the lock failed; no alias moved.

    Example:
        >>> decision = promote_flow_run(run_id, "mnist-classifier", params.promote)
        >>> print(decision.summary)
    """
    client = client or MlflowClient()
    flow = read_flow_run(client, parent_run_id)
    decision = Decision(
        model_name=model_name,
        flow_run_id=parent_run_id,
        data_version=flow.data_version,
        dry_run=dry_run,
        enabled=policy.enabled,
        variants=[c.variant for c in flow.candidates],
        ignored=flow.ignored,
    )
    if not policy.enabled:
        return decision
    decision.refused = gates.chance_refusal(client.get_run(parent_run_id),
                                            policy.allow_chance_baseline, policy.chance_margin)
    if decision.refused:
        if not dry_run:
            _record(client, decision, {}, [])
        return decision
    evaluations = [evaluate(flow.candidates, t) for t in policy.resolved_targets()]
    champions = Champions(client, model_name, flow.data_version, remeasure)
    # First pass outside the lock: re-measurement (slow) happens here, cached per version.
    decision.targets = [
        _decide(e, alias_version(client, model_name, e.target.alias), champions)
        for e in evaluations
    ]
    if dry_run:
        return decision

    # A run that already holds every alias it would get, or is byte for byte the model
    # that does, needs no registration or new tags.
    settled = {t.run_id for t in decision.targets if t.outcome in SETTLED}
    settled -= {t.run_id for t in decision.targets if t.outcome not in SETTLED}
    chosen: dict[str, Candidate] = {
        e.chosen.run_id: e.chosen
        for e in evaluations
        if e.chosen is not None and e.chosen.run_id not in settled
    }
    versions: dict[str, ModelVersion] = {}
    if chosen:
        ensure_registered_model(client, model_name)
    for run_id, candidate in chosen.items():
        versions[run_id] = register(
            client, model_name, candidate, parent_run_id, ready_timeout_s=policy.ready_timeout_s
        )
    for version in versions.values():
        if validate is None:
            break
        try:
            validate(version)
        except Exception as error:
            client.set_model_version_tag(
                model_name, version.version, PROMOTION_ERROR_TAG, str(error)
            )
            raise PromotionError(
                f"{model_name} version {version.version} failed validation, no alias moved: "
                f"{error}"
            ) from error

    if versions:
        decision.targets = _decide_and_move(
            client, model_name, evaluations, champions, versions, timeout_s=policy.lock_timeout_s
        )
    _record(client, decision, versions, flow.candidates)
    found = verdicts(evaluations[0], champion_of(decision.to_dict()))
    tag_verdicts({c.run_id: found[c.variant] for c in flow.candidates}, client)
    return decision


def _decide_and_move(
    client: MlflowClient,
    model_name: str,
    evaluations: list[Evaluation],
    champions: Champions,
    versions: dict[str, ModelVersion],
    *,
    timeout_s: float = 120.0,
    attempts: int = 5,
) -> list[TargetDecision]:
    """Under the lock: re-read the aliases, compare against those champions, move.

    Reading a champion's metrics can mean re-measuring it (slow); that never happens
    under the lock. If a champion changed since it was last read, the lock is released,
    the new champion is read, and the promotion tries again.
    """
    for _ in range(attempts):
        with registry_lock(client, model_name, timeout_s=timeout_s):
            # Another promotion may have moved an alias since the first pass: read them now.
            current = [alias_version(client, model_name, e.target.alias) for e in evaluations]
            champions.cached_only = True
            try:
                decided = [
                    _decide(e, v, champions) for e, v in zip(evaluations, current, strict=True)
                ]
            except NotLoaded as new_champion:
                unknown = new_champion.version
            else:
                for target in decided:
                    if target.run_id in versions and target.outcome not in SETTLED:
                        target.version = str(versions[target.run_id].version)
                try:
                    _move_aliases(client, model_name, decided)
                except MlflowException as error:
                    raise PromotionError(
                        f"moving aliases of {model_name} failed, every alias is back where "
                        f"it was: {first_line(error)}"
                    ) from error
                return decided
            finally:
                champions.cached_only = False
        champions.metrics(unknown)
    raise PromotionError(
        f"the champions of {model_name} changed {attempts} times during this promotion; "
        "no alias moved, try again"
    )


def _record(
    client: MlflowClient,
    decision: Decision,
    versions: dict[str, ModelVersion],
    candidates: list[Candidate],
) -> None:
    for run_id, version in versions.items():
        roles = [
            f"{t.target}:{t.alias_moved}"
            for t in decision.targets
            if t.run_id == run_id and t.alias_moved
        ]
        try:
            write_card(client, version, decision, candidates)
        except MlflowException as error:
            raise PromotionError(
                f"aliases moved, but writing the model card of {decision.model_name} version "
                f"{version.version} failed: {error}"
            ) from error
        if roles:
            client.set_model_version_tag(
                decision.model_name, version.version, TARGETS_TAG, ",".join(roles)
            )
    try:
        client.log_dict(decision.flow_run_id, decision.to_dict(), DECISION_ARTIFACT)
    except MlflowException as error:
        raise PromotionError(
            f"aliases moved, but logging {DECISION_ARTIFACT} on run {decision.flow_run_id} "
            f"failed: {error}"
        ) from error

