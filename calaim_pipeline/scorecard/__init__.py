"""Data-quality scorecards per plan-month and the statewide index (issue #4). Dagster-free.

The metric catalog (catalog.yaml) drives the dq_scorecard table, scorecard.json/.html, the index and
docs/metrics.md; values come from each plan-month's metrics.json, never from member data.
"""

from .build import ScorecardFiles, build_all, build_index, build_scorecard
from .catalog import load_catalog

__all__ = ["ScorecardFiles", "build_all", "build_index", "build_scorecard", "load_catalog"]
