"""Errors shared by the core, the CLI and the widgets."""


class InputError(ValueError):
    """Bad input from the user: a one-line message that says what is wrong and what to do.

    The CLI turns it into ``error: <message>`` on stderr and exit status 2; the widgets show it as
    a napari notification. Never raise it with a multi-line message.

    Examples
    --------
    >>> try:
    ...     raise InputError("K must be at least 2, got 1")
    ... except ValueError as exc:  # an InputError is a ValueError
    ...     print(f"error: {exc}")
    error: K must be at least 2, got 1
    """


class InputWarning(UserWarning):
    """Questionable but usable input (a constant image, K above the distinct values, one class
    in a training set): the job goes on. The CLI prints ``warning: <message>`` (one line) on
    stderr; in napari it is a warning notification.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("the image is constant", InputWarning)
    >>> caught[0].category.__name__, str(caught[0].message)
    ('InputWarning', 'the image is constant')
    """


class Cancelled(Exception):
    """Raised by :func:`napari_segsuite.core.base.progress.run` when the caller cancelled the job.

    Examples
    --------
    >>> from napari_segsuite.core.base.progress import Progress, run
    >>> def job():
    ...     yield Progress(0, 1, "working")
    ...     return "done"
    >>> run(job(), should_cancel=lambda: True)
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.errors.Cancelled...
    """
