"""Thin napari widgets over the core. The only room of the package that imports napari and Qt.

Shared pieces: :mod:`._worker` (JobPanel: every long job, progress, Cancel), :mod:`._layers`
(layer pickers, SegImage <-> layer conversion, results as new layers with the source geometry),
:mod:`._edits` (one undo step per edit, locks and user edits kept per labels layer) and
:mod:`._autosave` (edited labels layers saved for crash recovery).
"""
