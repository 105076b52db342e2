"""Open every sample in a fresh viewer, dock every widget of the manifest and click every button
of every widget in turn, as a curious first-time user would. Run by test_click_everything.py in a
subprocess, so that an abort fails that test instead of killing the suite.

    python tests/widgets/_click_everything.py [SAMPLE ...]       # default: every sample

Prints one JSON line: {"clicked": [...], "skipped": [...], "problems": [...], "notes": [...]}.
A problem is an uncaught exception (napari's error notification), an error logged by the plugin
(a job that failed with anything but a one-line input error), or a job that Cancel did not stop.
One-line input errors ("run GrowCut first") are the expected answer to some clicks: notes.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback

#: a job still running after this many seconds is cancelled (the Cancel button is clicked)
JOB_WAIT_S = 3.0
#: a cancelled job must have ended by then (a job that yields rarely, e.g. a training epoch or
#: Auto seeds, ends only at its next yield; this is no speed check, only "it does end")
CANCEL_WAIT_S = 300.0
#: the longest a widget's debounced follow-up (a single-shot QTimer) is waited for after a click
FOLLOW_UP_WAIT_S = 5.0


def _widget_names():
    import yaml  # napari depends on PyYAML

    from napari_segsuite import __file__ as pkg

    manifest = yaml.safe_load(open(pkg.replace("__init__.py", "napari.yaml")))
    return [w["display_name"] for w in manifest["contributions"]["widgets"]]


def _process(seconds: float = 0.0) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while True:
        QApplication.processEvents()
        if time.monotonic() >= end:
            return
        time.sleep(0.02)


def _settle(widget) -> bool:
    """Let the widget's pending single-shot timers fire (debounced follow-ups: Compare's live
    update after 0.5 s, its distances after 2 s), at most FOLLOW_UP_WAIT_S. True when one was
    pending. (This replaced a fixed 0.6 s pause after every click: most clicks have none.)"""
    from qtpy.QtCore import QTimer

    _process(0.02)
    timers = [t for t in widget.findChildren(QTimer) if t.isSingleShot()]
    pending = any(t.isActive() for t in timers)
    end = time.monotonic() + FOLLOW_UP_WAIT_S
    while any(t.isActive() for t in timers) and time.monotonic() < end:
        _process(0.05)
    _process(0.02)
    return pending


def main(samples) -> int:
    import napari
    from napari.utils.notifications import ErrorNotification, notification_manager
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QFileDialog, QPushButton

    from napari_segsuite.samples import SAMPLES
    from napari_segsuite.widgets._worker import JobPanel

    problems, notes, clicked, skipped = [], [], [], []
    where = {"at": "start"}

    # file dialogs answer "cancel" (a modal dialog would wait for a user forever)
    QFileDialog.getSaveFileName = staticmethod(lambda *a, **k: ("", ""))
    QFileDialog.getOpenFileName = staticmethod(lambda *a, **k: ("", ""))

    class Errors(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.ERROR:
                text = record.getMessage()
                if record.exc_info:
                    text += " " + "".join(traceback.format_exception(*record.exc_info))[-1500:]
                problems.append(f"{where['at']}: logged: {text}")

    logging.getLogger("napari_segsuite").addHandler(Errors())

    def on_note(event):
        note = getattr(event, "value", event)
        if isinstance(note, ErrorNotification):
            exc = note.exception
            problems.append(f"{where['at']}: uncaught {type(exc).__name__}: {exc} " + "".join(
                traceback.format_exception(type(exc), exc, exc.__traceback__))[-1500:])
        elif str(getattr(note, "severity", "")).lower().endswith("error"):
            notes.append(f"{where['at']}: {note.message}")

    notification_manager.notification_ready.connect(on_note)
    threading.excepthook = lambda a: problems.append(
        f"{where['at']}: thread {a.thread.name}: {a.exc_type.__name__}: {a.exc_value}")

    def wait_for_jobs(widget, follow_ups: bool = True) -> None:
        panels = widget.findChildren(JobPanel)
        end = time.monotonic() + JOB_WAIT_S
        _process(0.05)
        while any(p.busy for p in panels) and time.monotonic() < end:
            _process(0.1)
        for p in panels:
            if p.busy:
                notes.append(f"{where['at']}: still running after {JOB_WAIT_S:g} s: Cancel")
                started = time.monotonic()
                QTest.mouseClick(p.cancel_button, Qt.LeftButton)
                stop = time.monotonic() + CANCEL_WAIT_S
                while p.busy and time.monotonic() < stop:
                    _process(0.1)
                if p.busy:
                    problems.append(f"{where['at']}: Cancel did not stop the job")
                else:
                    notes.append(f"{where['at']}: cancelled after {time.monotonic() - started:.1f} s")
        if follow_ups and _settle(widget):  # a debounced follow-up fired: its job, if any
            wait_for_jobs(widget, follow_ups=False)

    names = _widget_names()
    for sample in samples or list(SAMPLES):
        where["at"] = f"{sample}: opening"
        viewer = napari.Viewer(title=f"click everything: {sample}")
        viewer.window._qt_window.resize(1400, 900)
        notification_manager.notification_ready.connect(on_note)  # napari may reset its hooks
        viewer.open_sample("napari-segsuite", sample)
        docked = []
        for name in names:
            where["at"] = f"{sample}: docking {name}"
            dock, widget = viewer.window.add_plugin_dock_widget("napari-segsuite", name)
            docked.append((name, dock, widget))
        _process(0.2)
        for name, dock, widget in docked:
            dock.show()
            dock.raise_()
            _process(0.1)
            panels = widget.findChildren(JobPanel)
            cancels = {id(p.cancel_button) for p in panels}
            for button in widget.findChildren(QPushButton):
                label = f"{sample}: {name}: '{button.text()}'"
                if id(button) in cancels:
                    continue  # clicked above, whenever a job outlives its wait
                if not (button.isEnabled() and button.isVisible()):
                    skipped.append(label)
                    continue
                where["at"] = label
                QTest.mouseClick(button, Qt.LeftButton)
                clicked.append(label)
                wait_for_jobs(widget)
        where["at"] = f"{sample}: closing"
        viewer.close()
        _process(0.2)
    print(json.dumps({"clicked": clicked, "skipped": skipped, "problems": problems,
                      "notes": notes}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
