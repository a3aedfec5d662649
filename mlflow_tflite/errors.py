"""One line from an error: for tags, table cells, delegate reasons and command-line errors."""

from __future__ import annotations

import threading

# Set by the command's Ctrl-C/SIGTERM handler (`cli.guard`). A library may turn the
# KeyboardInterrupt into an error of its own on the way up: Prefect's task engine raises
# `ValueError: Task run is not set` when the signal lands between two of its steps.
SIGNAL_RECEIVED = threading.Event()
# The reason a run ended by Ctrl-C or SIGTERM records (its error tag), whichever of the
# flow and the command's guard ends it: the signal may land before the flow's own handler
# is in place (between creating its parent run and entering its try block).
INTERRUPTED = "interrupted"


def is_interrupt(error: BaseException) -> bool:
    """Whether `error` ended the work because of Ctrl-C or SIGTERM: the interrupt itself
    (KeyboardInterrupt, Prefect's TerminationSignal) or any error raised after one came."""
    return not isinstance(error, Exception) or SIGNAL_RECEIVED.is_set()


def raise_if_signalled() -> None:
    """Raise, in the main thread, the KeyboardInterrupt of a Ctrl-C or SIGTERM that Python
    swallowed; called where the main thread waits or trains.

    The handler raises it wherever the main thread is, and there it may be lost: in a
    weakref callback or `__del__` run by the garbage collector Python only prints
    `Exception ignored in: ...` and goes on, and the command would run to the end.
    """
    if SIGNAL_RECEIVED.is_set() and threading.current_thread() is threading.main_thread():
        raise KeyboardInterrupt("signal received")


def first_line(
    error: BaseException | str | None, *, with_type: bool = False, limit: int | None = None
) -> str:
    """The first non-blank line of an error's message, never an IndexError.

    Args:
        error: an exception, or a message already taken from one.
        with_type: prefix the exception's type name (`ValueError: bad shape`).
        limit: shorten to at most this many characters, ending in `...`.

    Returns:
        The line; an exception with an empty message gives its type name, an empty or
        None message gives `failed`.

    Example:
        >>> first_line(ValueError("bad shape\\n  details"), with_type=True)
        'ValueError: bad shape'
    """
    text = str(error or "").strip()
    line = text.splitlines()[0].strip() if text else ""
    if isinstance(error, BaseException):
        kind = type(error).__name__
        line = f"{kind}: {line}" if with_type and line else line or kind
    line = line or "failed"
    if limit is not None and len(line) > limit:
        line = line[: max(limit - 3, 0)] + "..."
    return line
