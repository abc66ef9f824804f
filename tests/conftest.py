"""Shared test fixtures.

``shared_dir`` points at the read-only ``../shared`` folder beside the checkout (registry seed, CT.gov records,
CTCAE workbook, R reference numbers). Tests that need it skip with a clear message when it is absent; CI has it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("TRIALDESK_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        if os.environ.get("TRIALDESK_REQUIRE_ALL"):
            pytest.fail(f"shared material not found at {SHARED_DIR} (TRIALDESK_REQUIRE_ALL is set)")
        pytest.skip(f"shared material not found at {SHARED_DIR}; set TRIALDESK_SHARED_DIR to run this test")
    return SHARED_DIR
