"""Options several commands share are declared once (cli/options.py) and mean the same."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

from mlflow_tflite.cli import main

SETTINGS_COMMANDS = ("compare", "promote", "rollback")


def test_the_commands_that_read_settings_declare_params_the_same_way() -> None:
    commands = {}
    for name in SETTINGS_COMMANDS:
        commands[name] = argparse.ArgumentParser()
        importlib.import_module(f"mlflow_tflite.cli.{name}").add_arguments(commands[name])

    defaults = {name: commands[name].parse_args([]).params for name in SETTINGS_COMMANDS}
    helps = {name: next(a for a in commands[name]._actions if a.dest == "params").help
             for name in SETTINGS_COMMANDS}

    assert defaults == dict.fromkeys(SETTINGS_COMMANDS)
    assert all(h.endswith("(default: params.yaml if it exists, else the defaults)")
               for h in helps.values())


@pytest.mark.parametrize("command", SETTINGS_COMMANDS)
def test_a_params_file_named_but_missing_is_a_one_line_error(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"

    assert main([command, "--params", str(missing)]) == 1

    err = capsys.readouterr().err
    assert err == f"mlflow-tflite {command}: error: {missing}: params file not found\n"


@pytest.mark.parametrize("command", SETTINGS_COMMANDS)
def test_a_settings_file_is_read_as_strictly_as_a_run_s(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("mlflow:\n  experiment: a\n  experiment: b\n")

    assert main([command, "--params", str(path)]) == 1

    assert capsys.readouterr().err == (
        f"mlflow-tflite {command}: error: {path}: mlflow.experiment: the key is written "
        "twice (lines 2 and 3); YAML would keep only the last\n")
