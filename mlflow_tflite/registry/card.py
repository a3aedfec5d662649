"""The model card of a registered version: `model_card.md`, summarised in its description.

One card per version, written at promotion from what the flow logged: the parent run (data,
baseline), the variant's child run (recipe, metrics, `measurement.json`), its siblings
(the Pareto front) and the promotion decision. Like Qualcomm AI Hub's model cards, it
gives the numbers with the settings and the machine that produced them.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from mlflow_tflite.intervals import format_bound, interval_of, with_interval
from mlflow_tflite.metrics import Metric, all_metrics, find_metric, format_metric, pareto_metrics
from mlflow_tflite.plugins.technique import all_techniques
from mlflow_tflite.registry.decision import Decision
from mlflow_tflite.registry.policy import Candidate
from mlflow_tflite.tracking.layout import (
    BASELINE_QUANTIZATION_TAG,
    DATA_VERSION_TAG,
    DELEGATE_TAG,
    GIT_COMMIT_TAG,
    MODEL_CARD_TAG,
    PARENT_TAG,
    QUANTIZATION_TAG,
    TECHNIQUE_TAG,
    VARIANT_TAG,
)
from mlflow_tflite.tracking.pareto import pareto_front

CARD_ARTIFACT = "model_card.md"


@dataclass
class CardFacts:
    """What a card says, gathered from the tracking store."""

    model_name: str
    version: str
    variant: str
    run_id: str
    flow_run_id: str | None
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    measurement: dict[str, Any]
    parent_params: dict[str, str] = field(default_factory=dict)
    baseline_accuracy: float | None = None
    pareto: list[str] = field(default_factory=list)
    decision: str = ""


def _card(metrics: dict[str, float], name: str) -> str:
    return format_metric(name, metrics.get(name), "card")


def pareto_lines(variant: str, candidates: Sequence[Candidate]) -> list[str]:
    """Where `variant` sits on each accuracy-vs-cost Pareto front among `candidates`."""
    lines = []
    (quality,) = pareto_metrics("quality")
    for metric in pareto_metrics("cost"):
        label = find_metric(metric).label
        points = [c for c in candidates
                  if c.metrics.get(metric) is not None and c.metrics.get(quality) is not None]
        if not any(c.variant == variant for c in points):
            lines.append(f"{quality} vs {label}: not measured")
            continue
        front = [points[i].variant for i in
                 pareto_front([(c.metrics[metric], c.metrics[quality]) for c in points])]
        place = "on the Pareto front" if variant in front else "dominated (not on the front)"
        lines.append(f"{quality} vs {label}: {place}; front: {', '.join(front)} "
                     f"(of {len(points)} variants)")
    return lines


def gather(
    client: MlflowClient,
    version: ModelVersion,
    decision: Decision,
    candidates: Sequence[Candidate],
) -> CardFacts:
    """The facts of `version`'s card, read from its run, its flow run and `decision`."""
    import mlflow

    run = client.get_run(version.run_id)
    tags = dict(run.data.tags)
    variant = tags.get(VARIANT_TAG, run.info.run_name or "")
    measurement: dict[str, Any] = {}
    with contextlib.suppress(MlflowException, OSError):
        measurement = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/measurement.json")
    facts = CardFacts(
        model_name=version.name,
        version=str(version.version),
        variant=variant,
        run_id=run.info.run_id,
        flow_run_id=tags.get(PARENT_TAG),
        tags=tags,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        measurement=measurement,
        pareto=pareto_lines(variant, candidates),
        decision=" ".join(t.sentence(decision.dry_run) for t in decision.targets
                          if t.run_id == run.info.run_id) or decision.summary,
    )
    if facts.flow_run_id:
        with contextlib.suppress(MlflowException):
            parent = client.get_run(facts.flow_run_id)
            facts.parent_params = dict(parent.data.params)
            facts.baseline_accuracy = parent.data.metrics.get("baseline_accuracy")
    return facts


def _section(section: str) -> list[Metric]:
    """The catalogue metrics shown in card section `section`, in catalogue order."""
    return [m for m in all_metrics() if m.card and m.card_section == section]


def _latency(facts: CardFacts) -> list[str]:
    columns = [m for m in _section("latency") if m.per_delegate]
    latency = facts.measurement.get("latency") or {}
    runtime = facts.measurement.get("runtime") or {}
    first = next(iter(latency.values()), {})
    lines = [
        f"Benchmark settings: threads {first.get('threads') or 'default'}, "
        f"warm-up {first.get('warmup_runs', '-')}, timed runs {first.get('timed_runs', '-')}, "
        f"input {first.get('input_source', '-')}; CPU {runtime.get('cpu_model', 'unknown')} "
        f"({runtime.get('machine', '?')}, {runtime.get('cpu_count', '?')} cores, int8 "
        f"instructions {runtime.get('cpu_int8', '?')}), "
        f"LiteRT {runtime.get('ai_edge_litert', '?')}.",
        "",
        f"| delegate | {' | '.join(m.card for m in columns)} | note |",
        f"| --- | {'--- | ' * len(columns)}--- |",
    ]
    primary = facts.measurement.get("delegate") or facts.tags.get(DELEGATE_TAG)
    for name, result in latency.items():
        note = "primary" if name == primary else ""
        if not result.get("supported", True):
            note = f"unsupported: {result.get('reason') or ''}".strip()
        # measurement.json holds each delegate's LatencyResult under the source's field.
        cells = [format_metric(m.name, result.get(m.source.rpartition(".")[2]), "card")
                 for m in columns]
        lines.append(f"| {name} | {' | '.join(cells)} | {note} |")
    if not latency:
        cells = [_card(facts.metrics, m.name) for m in columns]
        lines.append(f"| {primary or '-'} | {' | '.join(cells)} | |")
    lines += ["", *(f"- {m.card}: {_card(facts.metrics, m.name)} {m.unit}"
                    for m in _section("latency") if not m.per_delegate)]
    return lines


def _compatibility(facts: CardFacts) -> list[str]:
    m = facts.measurement
    # JSON booleans from measurement.json, else the 0/1 metrics.
    yes_no = {True: "yes", False: "no", None: "unknown"}
    lines = []
    for metric in _section("compatibility"):
        text = yes_no.get(m.get(metric.name, facts.metrics.get(metric.name)), "unknown")
        # measurement.json's `<metric>` false comes with `gpu_incompatible_ops`: why not.
        reasons = m.get(f"{metric.name.removesuffix('_compatible')}_incompatible_ops")
        if reasons:
            text += f" ({'; '.join(reasons)})"
        lines.append(f"- {metric.card}: {text}")
    supported = [d for d, r in (m.get("latency") or {}).items() if r.get("supported", True)]
    refused = m.get("unsupported_delegates") or {}
    return [
        *lines,
        f"- runs on: {', '.join(supported) or '-'}",
        *(f"- refused by {d}: {reason}" for d, reason in refused.items()),
    ]


def _techniques(facts: CardFacts) -> list[str]:
    """What each technique adds to the recipe (`Technique.card`), from the build's
    compression facts: the pruning layer choice, ..."""
    compression = facts.measurement.get("compression") or {}
    return [line for t in all_techniques() if t.card for line in t.card(compression)]


def _targets(tags: dict[str, str]) -> list[str]:
    """The deployment targets' verdicts (`mcu/compatible: true`, `app/min_runtime: 2.17.0`);
    their metrics are rows of the quality table."""
    return [f"- target {key}: {value}" for key, value in sorted(tags.items())
            if "/" in key and not key.startswith("mlflow")]


def render(facts: CardFacts) -> str:
    """The card as markdown."""
    p, t = facts.parent_params, facts.tags
    (quality_metric,) = pareto_metrics("quality")  # accuracy, as the baseline's
    recipe = [f"| `{k}` | {v} |" for k, v in sorted(facts.params.items())]
    quality = [f"| {m.card} | {with_interval(facts.metrics, m.name, 'card')} |"
               for m in _section("quality") if facts.metrics.get(m.name) is not None]
    sections = [
        f"# Model card: {facts.model_name} version {facts.version} ({facts.variant})",
        "",
        "## Data",
        f"- source: {p.get('data.source', 'unknown')}",
        f"- data version: {t.get(DATA_VERSION_TAG, 'unknown')}",
        f"- test samples: {facts.measurement.get('samples') or '-'}",
        "",
        "## Baseline",
        f"- model: {p.get('train.model', 'unknown')}, epochs {p.get('train.epochs', '-')}",
        _baseline_line(t.get(BASELINE_QUANTIZATION_TAG, "none"),
                       format_metric(quality_metric, facts.baseline_accuracy, "card")),
        "",
        "## Recipe",
        f"- technique: {t.get('technique', '-')}, quantization: {t.get('quantization', '-')}",
        *_techniques(facts),
        "",
        "| param | value |",
        "| --- | --- |",
        *recipe,
        "",
        "## Size and quality",
        "| metric | value |",
        "| --- | --- |",
        *quality,
        *_noise(facts),
        "",
        "## Latency",
        *_latency(facts),
        "",
        "## Compatibility",
        *_compatibility(facts),
        *_targets(facts.tags),
        "",
        "## Pareto front",
        *(f"- {line}" for line in facts.pareto),
        "",
        "## Promotion",
        facts.decision,
        "",
        "## Provenance",
        f"- code commit: {t.get(GIT_COMMIT_TAG, 'unknown')}",
        f"- variant run: {facts.run_id}",
        f"- flow run: {facts.flow_run_id or 'unknown'}",
    ]
    return "\n".join(sections) + "\n"


# McNemar's p below this: the accuracy change is more than chance (the usual 5% level).
_SIGNIFICANT = 0.05


def _noise(facts: CardFacts) -> list[str]:
    """The quality table's intervals and McNemar's p in words, one line each."""
    lines = []
    for metric in _section("quality"):
        bounds = interval_of(facts.metrics, metric.name)
        if bounds is not None and facts.metrics.get(metric.name) is not None:
            low, high = (format_bound(metric.name, bound, "card") for bound in bounds)
            lines.append(f"- {metric.card}: {_card(facts.metrics, metric.name)}; measured "
                         f"again, it would most likely fall between {low} and {high} "
                         "(95% interval).")
    p = facts.metrics.get("accuracy_mcnemar_p")
    if p is not None:
        verdict = ("more than chance, so the accuracy really changed" if p < _SIGNIFICANT
                   else "within chance, so the test split cannot tell this accuracy from "
                   "fp32's")
        lines.append(f"- McNemar's test of the accuracy change against fp32: p = {p:.2g}. "
                     "Were both equally accurate, the images only one of them gets right "
                     f"would split this unevenly {100 * p:.2g}% of the time: {verdict}.")
    if not lines:
        return []
    samples = facts.measurement.get("samples")
    over = f"the {samples:,} test examples" if samples else "the test examples"
    return ["", "How sure these numbers are (an interval over examples resamples "
            f"{over}, paired with the fp32 model's outputs on the same examples):", *lines]


def _baseline_line(quantization: str, accuracy: str) -> str:
    """The baseline's test accuracy, naming an already quantized baseline as such."""
    if quantization == "none":
        return f"- baseline test accuracy: {accuracy}"
    from mlflow_tflite.train.kinds import quantized_baseline_note

    return (f"- baseline: a {quantization}-quantized .tflite, test accuracy {accuracy}; "
            f"{quantized_baseline_note(quantization)}")


def describe(facts: CardFacts, summary: str) -> str:
    """The version description: the card in one paragraph, then the decision `summary`."""
    numbers = "".join(m.card_summary.format(_card(facts.metrics, m.name))
                      for m in all_metrics() if m.card_summary)
    return (
        f"{facts.variant} ({facts.tags.get(TECHNIQUE_TAG, '-')}, "
        f"{facts.tags.get(QUANTIZATION_TAG, '-')}): {numbers} on "
        f"{facts.tags.get(DELEGATE_TAG, '-')}; data version "
        f"{facts.tags.get(DATA_VERSION_TAG, 'unknown')}, commit "
        f"{facts.tags.get(GIT_COMMIT_TAG, 'unknown')}. Full model card: {CARD_ARTIFACT} in "
        f"the model's artifacts.\n\n{summary}"
    )


def logged_model_id(version: ModelVersion) -> str | None:
    """The logged model a version was registered from (stores may leave `model_id` empty
    and keep it only in the `models:/m-...` source)."""
    if getattr(version, "model_id", None):
        return version.model_id
    source = version.source or ""
    if source.startswith("models:/m-"):
        return source.removeprefix("models:/").split("/")[0]
    return None


def write_card(
    client: MlflowClient,
    version: ModelVersion,
    decision: Decision,
    candidates: Sequence[Candidate],
) -> str:
    """Log `model_card.md` on the version's logged model (else its run), describe the version.

    Returns:
        The card's location (also the version's MODEL_CARD_TAG).
    """
    facts = gather(client, version, decision, candidates)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / CARD_ARTIFACT
        path.write_text(render(facts))
        model_id = logged_model_id(version)
        if model_id:
            client.log_model_artifact(model_id, str(path))
            location = f"models:/{model_id}/{CARD_ARTIFACT}"
        else:
            client.log_artifact(facts.run_id, str(path))
            location = f"runs:/{facts.run_id}/{CARD_ARTIFACT}"
    client.update_model_version(version.name, version.version,
                                description=describe(facts, decision.summary))
    # Where the card is: the logged model's artifacts, else the run's.
    client.set_model_version_tag(version.name, version.version, MODEL_CARD_TAG, location)
    return location
