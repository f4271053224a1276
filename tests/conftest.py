"""Shared test fixtures: where the real public scans live, and skipping without them.

The real public scans live beside the repository, in ``../shared/data/scans`` (CI and
developers have them). On a clone without that folder, every test that needs them skips with
one line saying so and every other test runs: a test needs them when it asks for the
``scans_dir`` fixture or carries the ``shared_scans`` mark.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCANS = REPO.parent / "shared" / "data" / "scans"
MISSING = f"needs the shared scans: {SCANS} is missing"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the shared scans, mark the tests that need them as skipped."""
    if SCANS.is_dir():
        return
    skip = pytest.mark.skip(reason=MISSING)
    for item in items:
        if item.get_closest_marker("shared_scans") is not None or "scans_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def scans_dir() -> Path:
    """Root of the shared real scans (../shared/data/scans from the repository root)."""
    if not SCANS.is_dir():
        pytest.skip(MISSING)
    return SCANS
