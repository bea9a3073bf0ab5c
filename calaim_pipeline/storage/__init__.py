"""Where the data root lives when it is not one machine's disk (docs/deploy.md)."""
