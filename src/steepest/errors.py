"""The one exception type for user mistakes."""


class UserError(Exception):
    """A mistake in the user's input (config, data, command line).

    The CLI prints ``str(error)`` as one line and exits with status 2; the message names
    the bad key or value and what was expected, so no traceback is ever needed.
    """


def first_line(error: BaseException) -> str:
    """An exception's message cut to its first line (its type's name when it has none),
    for a one-line error about something the user's input made fail."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
