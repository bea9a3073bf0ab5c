"""State that lasts between runs. Today: what DHCS answered (encounter_status.py); the submission
ledger itself still lives in submission/ledger.py (docs/decisions.md)."""
