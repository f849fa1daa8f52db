import os

import pytest
from django.db import connection

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only tests on a laptop's SQLite; in CI they must run, so stop instead."""
    if connection.vendor == "postgresql":
        return
    needing = [item for item in items if "postgres" in item.keywords]
    if needing and IN_CI:
        raise pytest.UsageError(
            f"{len(needing)} tests need PostgreSQL and CI never skips them: "
            "set DATABASE_URL=postgres://..."
        )
    for item in needing:
        item.add_marker(pytest.mark.skip(reason="needs DATABASE_URL=postgres://..."))
