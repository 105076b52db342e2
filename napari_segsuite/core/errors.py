"""Errors shared by the core, the CLI and the widgets."""


class InputError(ValueError):
    """Bad input from the user: a one-line message that says what is wrong and what to do.

    The CLI turns it into ``error: <message>`` on stderr and exit status 2; the widgets show it as
    a napari notification. Never raise it with a multi-line message.
    """


class Cancelled(Exception):
    """Raised by :func:`napari_segsuite.core.progress.run` when the caller cancelled the job."""
