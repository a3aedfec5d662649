"""A new, empty Optuna database of each kind the search supports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file in tmp_path, or a PostgreSQL database created for the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'optuna.db'}"
        return
    from tests.servers import fresh_postgres_database

    with fresh_postgres_database() as uri:
        yield uri
