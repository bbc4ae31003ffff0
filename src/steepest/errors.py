"""The one exception type for user mistakes."""


class UserError(Exception):
    """A mistake in the user's input (config, data, command line).

    The CLI prints ``str(error)`` as one line and exits with status 2; the message names
    the bad key or value and what was expected, so no traceback is ever needed.
    """
