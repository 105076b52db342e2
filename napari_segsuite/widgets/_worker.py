"""The one helper every widget uses to run long work: :class:`JobPanel`.

A widget builds a core *job* (a generator yielding :class:`~napari_segsuite.core.base.progress.Progress`
and returning its result, see ``napari_segsuite.core.base.progress``) and hands it to
``panel.start(job, on_result=...)``. The panel

- runs the generator in a napari thread worker (off the GUI thread);
- shows progress in its own bar and status line and in napari's activity dock;
- has a Cancel button that stops the job at its next yield (jobs yield at least every ~0.2 s, so
  within a second); a cancelled job calls no ``on_result``, so the layers stay as they were;
- forwards ``Progress.preview`` to ``on_preview`` (live views, e.g. GrowCut's labels competing);
- turns errors into napari notifications: an :class:`~napari_segsuite.core.base.errors.InputError`
  as its one-line message, anything else as "<title> failed: ..." (traceback to the log);
- disables the widgets passed as ``lock`` while it runs.

Synchronous mode (:func:`set_synchronous`, or ``SEGSUITE_SYNC_JOBS=1``) drives the same
generator in the calling thread, so tests are deterministic; :meth:`JobPanel.cancel` still works
from a progress/preview callback in that mode.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterable, Optional

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..core.base.errors import Cancelled, InputError
from ..core.base.params import ParamError
from ..core.base.progress import Progress, run

log = logging.getLogger(__name__)

_SYNC = os.environ.get("SEGSUITE_SYNC_JOBS", "") not in ("", "0")


def set_synchronous(value: bool) -> None:
    """Run every job in the calling thread (tests)."""
    global _SYNC
    _SYNC = bool(value)


def is_synchronous() -> bool:
    return _SYNC


_WARMED: set = set()


def warm_up_in_background(name: str, work: Callable[[], Any]) -> None:
    """Run ``work`` (compiling or loading numba kernels) once per process in a daemon thread, so
    the first Run of a widget starts at once; skipped in synchronous (test) mode. A failure is
    ignored: the first Run compiles instead."""
    if name in _WARMED or is_synchronous():
        return
    _WARMED.add(name)
    import threading

    def run_it():
        try:
            work()
        except Exception:  # noqa: BLE001
            log.debug("warm-up %s failed", name, exc_info=True)

    threading.Thread(target=run_it, name=f"segsuite-{name}-warmup", daemon=True).start()


def notify_error(exc: BaseException, title: str = "") -> None:
    """Show an error as a napari notification: one line, no traceback for input errors (a
    :class:`~napari_segsuite.core.base.params.ParamError` names the parameters by their labels)."""
    from napari.utils.notifications import show_error

    if isinstance(exc, InputError):  # a ParamError names the controls, not the CLI flags
        text = exc.for_widget() if isinstance(exc, ParamError) else str(exc)
        show_error(" ".join(text.split()))
    elif isinstance(exc, MemoryError):
        show_error(f"{title or 'The job'} ran out of memory; try a region of interest or a "
                   "smaller image")
    else:
        log.error("%s failed", title or "job", exc_info=exc)
        show_error(f"{title or 'The job'} failed: {type(exc).__name__}: {exc}")


class JobPanel(QWidget):
    """Progress bar, status line and Cancel button, and the machinery behind them."""

    #: emitted when a job ends, with "done", "cancelled" or "error"
    finished = Signal(str)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the running job; layers stay as they were")
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.progress_bar, 1)
        row.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.status)

        self.worker = None
        self.last_error: Optional[BaseException] = None
        self.last_outcome: Optional[str] = None
        self._cancel_requested = False
        self._napari_progress = None
        self._title = ""
        self._locked: list = []
        self._on_result: Optional[Callable[[Any], None]] = None
        self._note = ""
        self._on_preview: Optional[Callable[[Any], None]] = None

    # -- public API -----------------------------------------------------------------------------
    def set_note(self, text: str) -> None:
        """From ``on_result``: a few words the final status line shows after "done" (e.g.
        which engine and device produced the result)."""
        self._note = str(text)

    @property
    def busy(self) -> bool:
        return self.cancel_button.isEnabled()

    def start(self, job, on_result: Callable[[Any], None], *, title: str = "Job",
              on_preview: Optional[Callable[[Any], None]] = None,
              lock: Iterable[QWidget] = ()) -> None:
        """Run ``job`` (a generator) and call ``on_result(result)`` in the GUI thread when done."""
        if self.busy:
            from napari.utils.notifications import show_info

            show_info(f"{self._title} is still running; cancel it first")
            job.close()
            return
        self._title = title
        self._on_result = on_result
        self._on_preview = on_preview
        self._note = ""
        self._cancel_requested = False
        self.last_error = None
        self.last_outcome = None
        self._locked = [w for w in lock if w is not None]
        for w in self._locked:
            w.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress_bar.setValue(0)
        self.status.setText(f"{title}: starting")
        self._open_napari_progress(title)
        if _SYNC:
            self._run_sync(job)
        else:
            self._run_async(job)

    def cancel(self) -> None:
        """Ask the running job to stop at its next yield."""
        if not self.busy:
            return
        self._cancel_requested = True
        self.status.setText(f"{self._title}: cancelling")
        if self.worker is not None:
            self.worker.quit()

    # -- running --------------------------------------------------------------------------------
    def _run_sync(self, job) -> None:
        try:
            result = run(job, on_progress=self._on_progress,
                         should_cancel=lambda: self._cancel_requested)
        except Cancelled:
            self._finish("cancelled")
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user, not raised into Qt
            self._on_error(exc)
            return
        self._on_returned(result)

    def _run_async(self, job) -> None:
        from napari.qt.threading import create_worker

        def drive():
            return (yield from job)

        # _ignore_errors: errors go to _on_error only; without it superqt also connects a
        # handler that raises the job's exception again inside a Qt slot (a second, raw error
        # notification in napari; an abort where no excepthook catches it)
        worker = create_worker(drive, _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_error)
        # bound methods, not lambdas: PyQt drops these connections when the panel's Qt object is
        # deleted (e.g. the viewer closed while the job ran), a lambda would touch dead widgets
        worker.aborted.connect(self._on_aborted)
        self.worker = worker
        worker.start()

    # -- callbacks (GUI thread) -----------------------------------------------------------------
    def _on_progress(self, event: Any) -> None:
        if not isinstance(event, Progress):
            return
        frac = event.fraction
        if frac is not None:
            self.progress_bar.setValue(int(round(1000 * frac)))
            if self._napari_progress is not None:
                self._napari_progress.n = int(round(1000 * frac))
                self._napari_progress.refresh()
        if not self._cancel_requested:
            self.status.setText(f"{self._title}: {event.message}" if event.message else self._title)
        if event.preview is not None and self._on_preview is not None and not self._cancel_requested:
            try:
                self._on_preview(event.preview)
            except Exception:  # noqa: BLE001 - a broken preview must not kill the job
                log.exception("preview failed")

    def _on_aborted(self) -> None:
        self._finish("cancelled")

    def _on_returned(self, result: Any) -> None:
        if self._cancel_requested:
            self._finish("cancelled")
            return
        try:
            if self._on_result is not None:
                self._on_result(result)
        except Exception as exc:  # noqa: BLE001
            self._on_error(exc)
            return
        self.progress_bar.setValue(1000)
        self._finish("done")

    def _on_error(self, exc: BaseException) -> None:
        self.last_error = exc
        notify_error(exc, self._title)
        self._finish("error", message=" ".join(str(exc).split())[:200])

    def _finish(self, outcome: str, message: str = "") -> None:
        if self.last_outcome is not None:  # already finished (aborted + returned both fired)
            return
        self.last_outcome = outcome
        self.worker = None
        self.cancel_button.setEnabled(False)
        for w in self._locked:
            w.setEnabled(True)
        self._locked = []
        if self._napari_progress is not None:
            self._napari_progress.close()
            self._napari_progress = None
        text = {"done": "done", "cancelled": "cancelled, nothing changed",
                "error": f"failed: {message}"}[outcome]
        if outcome == "done" and self._note:
            text += f" ({self._note})"
        if outcome != "done":
            self.progress_bar.setValue(0)
        self.status.setText(f"{self._title}: {text}")
        self.finished.emit(outcome)

    def _open_napari_progress(self, title: str) -> None:
        try:
            from napari.utils import progress

            self._napari_progress = progress(total=1000, desc=title)
        except Exception:  # noqa: BLE001 - the dock's own bar still works
            self._napari_progress = None
