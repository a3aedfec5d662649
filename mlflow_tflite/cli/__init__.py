"""The `mlflow-tflite` command.

Each sub-command lives in its own module with `add_arguments(parser)` and
`run(args) -> int`; modules are imported only when their command runs, so
`mlflow-tflite --help` never imports TensorFlow, MLflow or Prefect.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

# The commands' one-line errors (re-exported: `from mlflow_tflite.cli import first_line`).
from mlflow_tflite.errors import SIGNAL_RECEIVED, first_line, is_interrupt  # noqa: F401

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("mlflow_tflite.cli.run", "run the whole optimization flow"),
    "benchmark": ("mlflow_tflite.cli.benchmark", "measure one .tflite file or models:/ URI"),
    "compare": ("mlflow_tflite.cli.compare", "the variants of one flow run as a table"),
    "promote": ("mlflow_tflite.cli.promote", "apply the promotion policy to a flow run"),
    "rollback": ("mlflow_tflite.cli.rollback", "move the champion alias back"),
    "schedule": ("mlflow_tflite.cli.schedule", "serve the flow as a Prefect deployment"),
    "search": ("mlflow_tflite.cli.search", "search the compression space for the Pareto front"),
}


# Prefect's embedded API server must create and migrate its database on a new machine:
# 21 s on a slow 2-core machine, past Prefect's 20 s default, so a newcomer's first
# `make run` would fail. Users' own setting wins.
EPHEMERAL_STARTUP_TIMEOUT = ("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


class CommandError(Exception):
    """A failure the user can act on; printed as one line, exit status 1."""


def _available_commands() -> dict[str, tuple[str, str]]:
    found = importlib.util.find_spec
    return {name: spec for name, spec in COMMANDS.items() if found(spec[0]) is not None}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="mlflow-tflite",
        description="TensorFlow Lite model compression, tracked in MLflow.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parsers = {
        name: sub.add_parser(name, help=help_text, description=help_text)
        for name, (_, help_text) in _available_commands().items()
    }
    return parser, parsers


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script (`argv` None: the command line, and an
    interrupted command ends the process at once)."""
    console = argv is None
    argv = sys.argv[1:] if argv is None else argv
    parser, parsers = build_parser()
    # Parse the command name first so only that command's module is imported.
    name = next((a for a in argv if not a.startswith("-")), None)
    if name not in parsers:
        args = parser.parse_args(argv)
        parser.print_help()
        return 0 if not argv else 2
    from mlflow_tflite.cli import console as console_output

    # Before TensorFlow, Prefect or MLflow read their settings.
    os.environ.setdefault(*EPHEMERAL_STARTUP_TIMEOUT)
    verbose = "--verbose" in argv
    console_output.set_environment(verbose)
    module = importlib.import_module(COMMANDS[name][0])
    module.add_arguments(parsers[name])
    args = parser.parse_args(argv)
    if console and not verbose:
        console_output.quiet()
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return _interrupted(name, console)
    except Exception as error:  # noqa: BLE001 - a bug or an unforeseen failure: still one line
        if is_interrupt(error):  # an error raised on the way up from Ctrl-C or SIGTERM
            return _interrupted(name, console)
        detail = (str(error) if isinstance(error, CommandError)
                  else f"{type(error).__name__}: {first_line(error)}")
        print(f"mlflow-tflite {name}: error: {detail}", file=sys.stderr)
        return 1
    finally:
        SIGNAL_RECEIVED.clear()  # the next command in this process (a test) starts afresh
        console_output.restore()


def _interrupted(name: str, console: bool) -> int:
    message = f"mlflow-tflite {name}: interrupted"
    if console:
        # A task thread may be deep in TensorFlow; Python would wait for it at exit.
        from mlflow_tflite.cli.guard import exit_now

        exit_now(130, message)
    print(message, file=sys.stderr)
    return 130


if __name__ == "__main__":
    sys.exit(main())
