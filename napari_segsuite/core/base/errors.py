"""Errors shared by the core, the CLI and the widgets."""


class InputError(ValueError):
    """Bad input from the user: a one-line message that says what is wrong and what to do.

    The CLI turns it into ``error: <message>`` on stderr and exit status 2; the widgets show it as
    a napari notification. Never raise it with a multi-line message.
    """


class InputWarning(UserWarning):
    """Questionable but usable input (a constant image, K above the distinct values, one class
    in a training set): the job goes on. The CLI prints ``warning: <message>`` (one line) on
    stderr; in napari it is a warning notification."""


class Cancelled(Exception):
    """Raised by :func:`napari_segsuite.core.base.progress.run` when the caller cancelled the job."""
