"""One exception type for every problem a user can fix by changing input, config or files.

The command line prints these as a single ``error: ...`` line (no traceback), so each message must name the
offending field/option/file and say what to do about it.
"""


class ILMConfigError(ValueError):
    """Bad configuration, bad data or a bad file supplied by the user."""
