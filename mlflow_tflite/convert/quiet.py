"""Keep converter and quantizer chatter off stdout and warnings off the console."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Route file descriptor 1 to stderr and silence TF/absl logs and Python warnings.

    The TFLite quantizer prints a settings line from C++ straight to file descriptor 1,
    and ai-edge-quantizer prints its size report; either would land in the middle of the
    CLI's table.
    """
    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl", "")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
