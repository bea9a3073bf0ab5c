"""The code location: everything under calaim_pipeline/defs/."""

from pathlib import Path

import dagster as dg

from calaim_pipeline import filemodes

# Run workers, the code server and `dagster dev`'s processes load this module: from here on,
# whatever they create under the data root (DuckDB and pyarrow files, Dagster's storage) is
# owner-only, or group-readable with CALAIM_SHARE_GROUP (filemodes.py).
filemodes.apply_umask()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
