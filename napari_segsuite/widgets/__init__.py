"""Thin napari widgets over the core. The only room of the package that imports napari and Qt.

Shared pieces: :mod:`._worker` (JobPanel: every long job, progress, Cancel) and :mod:`._layers`
(layer pickers, SegImage <-> layer conversion, results as new layers with the source geometry).
"""
