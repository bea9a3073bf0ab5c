"""The command line's one error type for a bad value, shared by every `calaim` sub-command's
module (cli.py prints it as one line, exit code 2)."""


class UsageError(ValueError):
    """A bad command-line value: printed as one line, exit code 2, no traceback."""
