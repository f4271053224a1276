"""Shared test fixtures: where the real public scans live."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCANS = REPO.parent / "shared" / "data" / "scans"


@pytest.fixture(scope="session")
def scans_dir() -> Path:
    """Root of the shared real scans (../shared/data/scans from the repository root)."""
    if not SCANS.is_dir():
        pytest.fail(f"the shared scans are missing: {SCANS} (CI and developers have them there)")
    return SCANS
