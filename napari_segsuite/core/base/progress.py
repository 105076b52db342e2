"""The progress protocol every long job follows.

A long job is a *generator* that yields :class:`Progress` events often (at least every ~0.2 s of
work, so Cancel answers within a second) and finally ``return``s its result::

    def growcut_steps(image, seeds, ...):
        ...
        for it in range(max_iter):
            ...
            yield Progress(it + 1, max_iter, "iterating", preview=labels)
        return labels

    def growcut(image, seeds, ...):          # the plain function scripts and tests call
        return run(growcut_steps(image, seeds, ...))

The same generator is driven three ways:

- :func:`run` here (scripts, tests, the CLI with a stderr progress printer);
- ``napari_segsuite.widgets._worker.start_job`` in napari (a thread worker: progress bar, Cancel
  closes the generator at its next yield, results become new layers);
- by a dask task, which calls :func:`run` too.

Cancelling closes the generator (``GeneratorExit`` at the yield), so ``try/finally`` blocks in the
job release their resources; a job must not modify its inputs, so a cancelled job leaves no trace.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Generator, Optional

from .errors import Cancelled


@dataclass
class Progress:
    """One progress event.

    Attributes
    ----------
    done, total
        Work units done so far and in all (``total=None`` when unknown).
    message
        A short human-readable phase ("fitting", "iteration 12").
    preview
        Optional partial result for a live view (e.g. GrowCut labels so far); consumers
        must treat it as read-only and may ignore it.

    Examples
    --------
    >>> Progress(3, 4, "iteration 3").fraction
    0.75
    >>> Progress(3, None).fraction is None
    True
    """

    done: float = 0
    total: Optional[float] = None
    message: str = ""
    preview: Any = None

    @property
    def fraction(self) -> Optional[float]:
        if not self.total:
            return None
        return max(0.0, min(1.0, float(self.done) / float(self.total)))


Job = Generator[Progress, None, Any]


def run(job: Job, on_progress: Optional[Callable[[Progress], None]] = None,
        should_cancel: Optional[Callable[[], bool]] = None) -> Any:
    """Drive a job generator to completion and return its result.

    ``on_progress`` is called with every :class:`Progress` the job yields; ``should_cancel`` is
    polled at every yield and, when it returns True, the job is closed and :class:`Cancelled` is
    raised.

    Parameters
    ----------
    job : generator
        Yields :class:`Progress`, returns the result.
    on_progress : callable, optional
        Called with each event.
    should_cancel : callable, optional
        Polled after each event.

    Returns
    -------
    object
        The job's return value.

    Raises
    ------
    Cancelled
        ``should_cancel`` returned True.

    Examples
    --------
    >>> def job():
    ...     for i in range(3):
    ...         yield Progress(i, 3, f"step {i}")
    ...     return "done"
    >>> seen = []
    >>> run(job(), on_progress=lambda p: seen.append(p.message))
    'done'
    >>> seen
    ['step 0', 'step 1', 'step 2']
    """
    try:
        while True:
            event = next(job)
            if on_progress is not None and isinstance(event, Progress):
                on_progress(event)
            if should_cancel is not None and should_cancel():
                job.close()
                raise Cancelled("cancelled")
    except StopIteration as stop:
        return stop.value


def in_background(fn: Callable[..., Any], *args: Any, done: float = 0,
                  total: Optional[float] = None, message: str = "", interval: float = 0.1,
                  **kwargs: Any) -> Job:
    """Job: run ``fn(*args, **kwargs)`` in a daemon thread, yielding
    ``Progress(done, total, message)`` every ``interval`` seconds until it returns; return its
    result (its exception is raised here).

    For one long call that cannot be split (a distance transform, a sort, a numba kernel built
    with ``nogil=True``): the job still answers Cancel (and Ctrl-C, in the CLI's main thread)
    within ``interval``. numpy, scipy.ndimage and ``nogil`` numba code release the GIL, so the
    waiting thread runs meanwhile. A cancelled job abandons the thread: it finishes its call in
    the background (it must not modify anything the caller sees) and its result is dropped.

    Examples
    --------
    >>> def job():
    ...     value = yield from in_background(sum, [1, 2, 3], message="adding")
    ...     return value
    >>> run(job())
    6
    """
    import threading

    box: dict = {}
    finished = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - raised again in the job's thread
            box["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, daemon=True,
                     name=f"segsuite-{getattr(fn, '__name__', 'call')}").start()
    while not finished.wait(interval):
        yield Progress(done, total, message)
    if "error" in box:
        raise box["error"]
    return box["value"]


def steps_in_background(job: Job, message: str = "", interval: float = 0.1) -> Job:
    """Job: drive another job whose steps may be long between two yields (a set-up of large
    arrays, a final copy) with each step in a helper thread (:func:`in_background`), passing its
    events on and yielding ``Progress(message)`` every ``interval`` while a step runs. Returns
    its result. Cancelling abandons the inner job in its helper thread (it is never resumed).

    Examples
    --------
    >>> def job():
    ...     for i in range(3):
    ...         yield Progress(i, 3, f"step {i}")
    ...     return "done"
    >>> sorted({p.message for p in steps_in_background(job())} - {""})
    ['step 0', 'step 1', 'step 2']
    >>> run(steps_in_background(job()))
    'done'
    """
    last = [Progress(0, None, message)]

    def step():
        try:
            return False, next(job)
        except StopIteration as stop:
            return True, stop.value

    while True:
        p = last[0]
        finished, value = yield from in_background(step, done=p.done, total=p.total,
                                                   message=p.message or message,
                                                   interval=interval)
        if finished:
            return value
        if isinstance(value, Progress):
            last[0] = Progress(value.done, value.total, value.message)
        yield value


def report(job: Job, stream=None, quiet: bool = False, min_interval: float = 0.5) -> Any:
    """Run a job, printing throttled one-line progress to ``stream`` (stderr by default).

    This is what the CLI uses: progress on stderr, nothing with ``quiet``.

    Parameters
    ----------
    job : generator
        The job.
    stream : file, optional
        Where to print (default stderr).
    quiet : bool
        Print nothing.
    min_interval : float
        Seconds between two printed lines.

    Returns
    -------
    object
        The job's return value.

    Examples
    --------
    >>> def job():
    ...     for i in range(3):
    ...         yield Progress(i, 3, f"step {i}")
    ...     return "done"
    >>> import io
    >>> out = io.StringIO()
    >>> report(job(), stream=out, min_interval=0)
    'done'
    >>> print(out.getvalue(), end="")
      0.0% step 0
     33.3% step 1
     66.7% step 2
    """
    if quiet:
        return run(job)
    stream = stream if stream is not None else sys.stderr
    last = [0.0]

    def show(p: Progress) -> None:
        now = time.monotonic()
        if now - last[0] < min_interval:
            return
        last[0] = now
        frac = p.fraction
        pct = f"{100 * frac:5.1f}% " if frac is not None else ""
        print(f"{pct}{p.message}".rstrip(), file=stream, flush=True)

    return run(job, on_progress=show)
