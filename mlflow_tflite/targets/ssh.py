"""`kind: ssh`: a device on the network (a Raspberry Pi, any Linux board with python).

Each variant, the probe script and the first test samples are copied to the host with
`scp`; the host's `python` runs the variant with its own `ai-edge-litert` under the
`benchmark` section's warm-up, runs, threads and primary delegate, and prints the
outputs, the timings and the peak memory, which come back as `<target>/latency_p50_ms`,
`<target>/latency_p90_ms`, `<target>/peak_memory_mb` and `<target>/output_snr_db`
(against LiteRT's outputs here). Keys only (`BatchMode`): an unreachable host, a missing
runtime or a timeout is one line naming the host and the cause, and fails this target's
measurements only.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from mlflow_tflite.metrics import Metric
from mlflow_tflite.plugins.target import (
    LATENCY_P50,
    LATENCY_P90,
    OUTPUT_SNR,
    TargetKind,
    TargetResult,
)
from mlflow_tflite.section import Section

# [user@]host: a name, an IPv4 address or a bracketed IPv6 one; never an option (`-o...`).
_HOST = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9._\-]*@)?"
                   r"(?:[A-Za-z0-9][A-Za-z0-9.\-]*|\[[0-9A-Fa-f:.]+\])$")
_OPTION = re.compile(r"^[A-Za-z]+=\S.*$")
MEMORY = Metric(name="peak_memory_mb", higher_is_better=False, unit="MB", label="peak memory",
                card="peak memory on the host (MB)")
# ssh's own exit status when it could not connect or authenticate.
_SSH_FAILED = 255


class SshConfig(Section):
    """A device reached over SSH with a key; it needs python 3 with numpy and ai-edge-litert."""

    kind: Literal["ssh"] = "ssh"
    host: str = Field(description="user@host or host (an ~/.ssh/config alias too).")
    port: int | None = Field(None, ge=1, le=65535, description="SSH port; ssh's default if unset.")
    python: str = Field("python3", min_length=1,
                        description="The host's python with ai-edge-litert and numpy (a "
                        "command line: `/usr/bin/env python3`, `~/venv/bin/python`).")
    identity: str | None = Field(None, description="Private key file (ssh -i).")
    options: list[str] = Field(default_factory=list,
                               description="ssh -o options, e.g. UserKnownHostsFile=...")
    connect_timeout_s: int = Field(10, ge=1, description="How long to wait for the host.")
    timeout_s: float = Field(300.0, gt=0.0,
                             description="Longest a variant's copy and run may take.")

    @field_validator("host")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _HOST.match(value):
            raise ValueError(f"{value!r} is not an SSH address: expected user@host or host")
        return value

    @field_validator("options")
    @classmethod
    def _options(cls, value: list[str]) -> list[str]:
        for option in value:
            if not _OPTION.match(option):
                raise ValueError(f"{option!r} is not an ssh option: expected Name=value")
        return value


def _common(config: SshConfig, port_flag: str) -> list[str]:
    args = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={config.connect_timeout_s}"]
    if config.port:
        args += [port_flag, str(config.port)]
    if config.identity:
        args += ["-i", config.identity]
    for option in config.options:
        args += ["-o", option]
    return args


def _ssh(config: SshConfig, command: str, timeout: float) -> subprocess.CompletedProcess:
    return _call(["ssh", *_common(config, "-p"), config.host, command], config, timeout)


def _call(command: list[str], config: SshConfig, timeout: float) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{config.host}: timed out after {timeout:g} s") from None
    except FileNotFoundError:
        raise RuntimeError(f"{config.host}: no {command[0]} command on this machine") from None
    if done.returncode == _SSH_FAILED:
        raise RuntimeError(f"{config.host}: unreachable ({_last_line(done.stderr)})")
    return done


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def measure(job) -> TargetResult:
    import json

    from mlflow_tflite.targets.run import PROBE, fidelity_and_latency

    config: SshConfig = job.config
    done = _ssh(config, "mktemp -d", config.connect_timeout_s + 30)
    remote = done.stdout.strip()
    if done.returncode != 0 or not remote.startswith("/"):
        raise RuntimeError(f"{config.host}: cannot make a directory ({_last_line(done.stderr)})")
    try:
        with tempfile.TemporaryDirectory(prefix="mlflow-tflite-ssh-") as tmp:
            inputs, settings = job.write_inputs(Path(tmp))
            model = Path(tmp) / "model.tflite"
            model.write_bytes(Path(job.model_path).read_bytes())
            copied = _call(["scp", "-q", *_common(config, "-P"), str(PROBE), str(model),
                            str(inputs), str(settings), f"{config.host}:{remote}/"],
                           config, config.timeout_s)
            if copied.returncode != 0:
                raise RuntimeError(f"{config.host}: copy failed ({_last_line(copied.stderr)})")
        files = [f"{remote}/{name}" for name in ("probe.py", "model.tflite", "inputs.npz",
                                                  "settings.json")]
        command = shlex.join([*shlex.split(config.python), files[0], "litert", *files[1:]])
        ran = _ssh(config, command, config.timeout_s)
    finally:
        _ssh(config, shlex.join(["rm", "-rf", remote]), config.connect_timeout_s + 30)
    lines = [line for line in ran.stdout.splitlines() if line.startswith("{")]
    if ran.returncode != 0 or not lines:
        raise RuntimeError(f"{config.host}: {config.python} failed ({_last_line(ran.stderr)})")
    result = json.loads(lines[-1])
    if "error" in result:
        raise RuntimeError(f"{config.host}: {result['error']}")
    return TargetResult({**fidelity_and_latency(result, job.reference),
                         "peak_memory_mb": float(result["peak_memory_mb"])})


TARGET = TargetKind(
    name="ssh",
    summary="A device over SSH: latency, memory and output fidelity with its ai-edge-litert.",
    config=SshConfig,
    metrics=(LATENCY_P50, LATENCY_P90, MEMORY, OUTPUT_SNR),
    measure=measure,
    columns=("latency_p50_ms",),
    cell=lambda values: f"p50 {values['latency_p50_ms']:.3f} ms",
    axis="latency_p50_ms",
)
