"""What a promotion decided, per target, as one readable paragraph and as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mlflow_tflite.metrics import format_metric

Outcome = Literal["promoted", "challenger", "already_champion", "identical", "no_winner",
                  "no_variants"]
# Outcomes that register nothing and move no alias.
SETTLED = ("already_champion", "identical")


@dataclass
class TargetDecision:
    """One target's outcome.

    `outcome` is `promoted` (the winner now holds `alias`), `challenger` (it holds
    `challenger_alias`; the champion stays), `already_champion` (nothing to move),
    `identical` (its `.tflite` is byte-identical to the champion's: nothing registered),
    `no_winner` (no variant passed; the closest holds `challenger_alias`) or
    `no_variants` (no finished variant run).
    """

    target: str
    alias: str
    challenger_alias: str
    objective: list[str]
    outcome: Outcome
    reason: str
    winner: str | None = None
    closest: str | None = None
    ranking: list[str] = field(default_factory=list)
    failures: dict[str, list[str]] = field(default_factory=dict)
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    version: str | None = None
    alias_moved: str | None = None
    champion_before: str | None = None
    champion_metrics: dict[str, float] | None = None
    remeasured: bool = False

    @property
    def chosen(self) -> str | None:
        return self.winner or self.closest

    def sentence(self, dry_run: bool) -> str:
        """This target's part of the summary paragraph."""
        would = "would " if dry_run else ""
        head = "" if self.target == "default" else f"Target {self.target}: "
        no = f"{head}no" if head else "No"
        version = f"version {self.version}" if self.version else "a new version"
        if self.outcome == "no_variants":
            return f"{no} finished variant run, nothing {would or 'was '}registered."
        if self.outcome == "no_winner":
            return (
                f"{no} variant meets the constraints ({self._failed()}), so nothing is "
                "promoted; "
                f"the closest, {self.closest} (fewest failed constraints, then objective), "
                f"{would}{'be' if dry_run else 'is'} {version} with alias "
                f"{self.challenger_alias}, and {self.alias} "
                f"{'would stay' if dry_run else 'stays'} on {self._champion()}."
            )
        lead = self.objective[0]
        win = (
            f"{self.winner} wins on {', '.join(self.objective)} "
            f"({lead} {format_metric(lead, self.metrics.get(lead))}"
            f"{self._runner_up()}) among {len(self.ranking)} passing variant"
            f"{'s' if len(self.ranking) != 1 else ''}"
            f"{f' ({self._failed()})' if self.failures else ''}"
        )
        if self.outcome == "already_champion":
            return f"{head}{win} and is already {self.alias} ({version}); no alias moved."
        if self.outcome == "identical":
            return (f"{head}{win}, but {self.reason}: no new version "
                    f"{'would be ' if dry_run else 'is '}registered and no alias moved "
                    f"({self.alias} stays on {version}).")
        if self.outcome == "promoted":
            before = (
                f"replacing version {self.champion_before}"
                if self.champion_before
                else "the first champion"
            )
            return (
                f"{head}{win}; {self.reason}, so {version} {would or ''}"
                f"{'take' if dry_run else 'takes'} alias {self.alias} ({before})."
            )
        return (
            f"{head}{win}, but {self.reason}; {version} {would}"
            f"{'get' if dry_run else 'gets'} alias {self.challenger_alias} and {self.alias} "
            f"{'would stay' if dry_run else 'stays'} on {self._champion()}."
        )

    def _failed(self) -> str:
        return "; ".join(f"{variant}: {', '.join(m)}" for variant, m in self.failures.items())

    def _champion(self) -> str:
        return f"version {self.champion_before}" if self.champion_before else "no version"

    def _runner_up(self) -> str:
        return f"; next {self.ranking[1]}" if len(self.ranking) > 1 else ""


@dataclass
class Decision:
    """The result of `promote_flow_run`: one paragraph, per-target detail, JSON."""

    model_name: str
    flow_run_id: str
    data_version: str | None
    dry_run: bool = False
    enabled: bool = True
    variants: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    targets: list[TargetDecision] = field(default_factory=list)
    refused: str | None = None

    def target(self, name: str = "default") -> TargetDecision:
        for target in self.targets:
            if target.target == name:
                return target
        raise KeyError(f"no target {name!r} in this decision")

    @property
    def summary(self) -> str:
        """One paragraph: what won, against what, by which numbers, what moved."""
        data = f"data version {self.data_version}" if self.data_version else "unknown data version"
        opening = (
            f"{'Dry run (nothing changed): ' if self.dry_run else ''}"
            f"Promotion of flow run {self.flow_run_id} ({data}, {len(self.variants)} finished "
            f"variant{'s' if len(self.variants) != 1 else ''}"
        )
        if self.ignored:
            opening += "; ignored " + ", ".join(f"{v} ({s})" for v, s in self.ignored.items())
        opening += f") to model {self.model_name}."
        if not self.enabled:
            return f"{opening} Promotion is disabled (promote.enabled: false); nothing changed."
        if self.refused:
            return f"{opening} Nothing promoted, no alias moved: {self.refused}."
        return " ".join([opening, *(t.sentence(self.dry_run) for t in self.targets)])

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}
