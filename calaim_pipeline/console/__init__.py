"""What `calaim run` prints: the stage a plan-month is in as it runs, a one-line verdict per
plan-month, and the next steps that fit what happened. Dagster's own logs stay in the instance's
event log (and on the console only with --verbose)."""
