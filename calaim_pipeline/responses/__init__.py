"""What DHCS answers: 999 and 277CA responses, read with pyx12 and matched to our files and claims.

- ``codes``: the STC category and status codes the simulator and the worklist use, with meanings;
- ``x12``: writing response segments and reading any X12 file with pyx12's reader;
- ``simulator``: the DHCS simulator (reads a built month's 837 files, writes a 999 and a 277CA per
  file plus a truth file; everything it writes is labelled simulated);
- ``parser``: 999 and 277CA files into rows (never logs segment values: they hold member data);
- ``ingest``: landing folder → matched rows in the ledger's response tables, bad files kept aside;
- ``checks``: the DHCS-outcome checks of a plan-month; ``worklist``: the corrections worklist;
- ``cycle``: sample data only: a built month marked sent as a simulated review and answered.

No Dagster imports: defs/responses.py and cli_responses.py wire these in.
"""
