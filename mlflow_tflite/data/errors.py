"""The one error type of the data package."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data; the message is one line naming the file and the problem."""
