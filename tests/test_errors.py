"""The one first-line helper: every error becomes one line, an empty message included."""

from __future__ import annotations

import pytest

from mlflow_tflite.errors import first_line


@pytest.mark.parametrize(
    ("error", "options", "expected"),
    [
        (ValueError("bad shape\n  detail"), {}, "bad shape"),
        (ValueError("\n\n  bad shape  \n"), {}, "bad shape"),
        (ValueError("bad shape"), {"with_type": True}, "ValueError: bad shape"),
        (ValueError(""), {}, "ValueError"),
        (ValueError(""), {"with_type": True}, "ValueError"),
        (KeyboardInterrupt(), {}, "KeyboardInterrupt"),
        ("", {}, "failed"),
        (None, {}, "failed"),
        ("   \n  ", {}, "failed"),
        ("first\nsecond", {}, "first"),
        (ValueError("x" * 50), {"limit": 10}, "xxxxxxx..."),
    ],
)
def test_first_line(error, options, expected):
    assert first_line(error, **options) == expected

