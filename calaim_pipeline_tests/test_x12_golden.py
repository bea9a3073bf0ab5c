"""The 837 format pinned byte for byte: the hand-built synthetic claims of test_x12_837 rendered to
the committed golden files (no real member data). A change to the layout or the renderer that
moves one byte fails here; regenerate on purpose with

    CALAIM_UPDATE_GOLDEN=1 .venv/bin/pytest calaim_pipeline_tests/test_x12_golden.py

and review the diff (pyx12 and the round trip in test_x12_837 must still pass).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from calaim_pipeline_tests.test_x12_837 import (
    CREATED,
    PLAN,
    RECEIVER,
    control,
    institutional_claims,
    professional_claims,
)
from calaim_pipeline_tests.x12_lake import render
from calaim_pipeline_tests.x12_support import assert_pyx12_accepts

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(
    ("transaction", "claims"),
    [("837P", professional_claims()), ("837I", institutional_claims())],
)
def test_golden_file(transaction: str, claims: list) -> None:
    text, _ = render(transaction, claims, PLAN, RECEIVER, control(), CREATED)
    golden = GOLDEN / f"{transaction}_synthetic.x12"
    if os.environ.get("CALAIM_UPDATE_GOLDEN"):
        golden.write_bytes(text.encode("ascii"))
    assert text.encode("ascii") == golden.read_bytes()
    assert_pyx12_accepts(golden.read_text(encoding="ascii"))
