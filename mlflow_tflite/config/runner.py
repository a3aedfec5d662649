"""The `runner` section: where the flow's variant tasks run."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlflow_tflite.section import Section

# The one list of runner types: the `type` field, `mlflow-tflite run --runner` and the
# flow's task runners (flows/runner.py) all take it from here.
RUNNER_TYPES = ("threads", "processes", "dask")
RunnerType = Literal[RUNNER_TYPES]  # type: ignore[valid-type]


class RunnerConfig(Section):
    """The Prefect task runner for the variant fan-out.

    `threads` (default) runs every task in the flow's process; `processes` a pool of
    `workers` local processes; `dask` a Dask LocalCluster of `workers` single-threaded
    worker processes, or the existing scheduler at `address`.
    """

    type: RunnerType = Field("threads", description=" | ".join(RUNNER_TYPES))
    workers: int = Field(
        2, ge=1, le=256,
        description="Worker processes (processes, dask LocalCluster); threads use 8 threads.",
    )
    address: str | None = Field(
        None, description="An existing Dask scheduler, e.g. tcp://10.0.0.5:8786 (dask only)."
    )

    @model_validator(mode="after")
    def _address_needs_dask(self) -> RunnerConfig:
        if self.address is not None and self.type != "dask":
            raise ValueError(f"address is only used with type dask (type is {self.type!r})")
        if self.address is not None and "://" not in self.address:
            raise ValueError(
                f"address {self.address!r}: expected a scheduler URL like tcp://host:8786"
            )
        return self

    @property
    def steps_in_this_process(self) -> bool:
        """Whether the flow's steps run in the command's own step process (`threads`), not
        in workers that have their own."""
        return self.type == "threads"
