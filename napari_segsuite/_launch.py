"""``napari-segsuite``: open napari with a SegSuite sample loaded and widgets docked.

    napari-segsuite                      # brain sample, GrowCut docked
    napari-segsuite --sample ct --widget Watershed --widget "Compare with ground truth"
    napari-segsuite scan.nii.gz seeds.nii.gz
    napari-segsuite --screenshot shot.png  # render once and exit (used for the README)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

WIDGETS = ("GrowCut", "Watershed", "Clustering", "Compare with ground truth", "Train U-Net",
           "U-Net predict", "Correct", "Spectral index")


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="napari-segsuite", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*", help="images or label files to open (any SegSuite format)")
    from .samples import SAMPLES

    p.add_argument("--sample", default=None, choices=[*SAMPLES, "none"],
                   help="sample to open: brain (default when no files), ct, landsat, nuclei, none")
    p.add_argument("--widget", action="append", choices=WIDGETS,
                   help="widget to dock (repeatable; default GrowCut)")
    p.add_argument("--screenshot", metavar="PNG", help="save a screenshot of the window and exit")
    args = p.parse_args(argv)
    from .core.base.errors import InputError
    from .io import READ_EXTENSIONS, can_read, extension

    for f in args.files:  # before any window opens
        if not Path(f).exists():
            p.error(f"{f}: no such file or folder")
        if not can_read(f):
            p.error(f"{f}: folder holds no DICOM series or satellite scene" if Path(f).is_dir() else
                    f"{f}: unsupported format {extension(f) or '(no extension)'}; use one of "
                    + ", ".join(READ_EXTENSIONS) + " or a DICOM series folder")

    choose_qt_binding()
    import napari

    viewer = napari.Viewer(title="napari-segsuite")
    sample = args.sample if args.sample is not None else (None if args.files else "brain")
    if sample and sample != "none":
        viewer.open_sample("napari-segsuite", sample)
    for f in args.files:
        try:
            viewer.open(f, plugin="napari-segsuite")
        except InputError as exc:  # a corrupt file: one line, not a traceback
            print(f"{p.prog}: error: {exc}", file=sys.stderr)
            viewer.close()
            return 2
    for w in args.widget or ["GrowCut"]:
        viewer.window.add_plugin_dock_widget("napari-segsuite", w)
    if not args.screenshot:
        from .widgets._autosave import autosave_for, offer_restore

        autosave_for(viewer)  # edited labels layers are kept for crash recovery
        offer_restore(viewer)
    seeds = _seeds_layer(viewer)
    if viewer.dims.ndisplay == 2 and viewer.layers and viewer.layers[0].ndim == 3:
        viewer.dims.set_current_step(0, _first_view_slice(viewer, seeds))
    if seeds is not None:  # ready to paint more strokes
        viewer.layers.selection.active = seeds
        seeds.mode = "paint"
    _fit_window(viewer)
    if args.screenshot:
        from qtpy.QtWidgets import QApplication

        for _ in range(5):
            QApplication.processEvents()
        viewer.screenshot(args.screenshot, canvas_only=False)
        viewer.close()
        return 0
    napari.run()
    return 0


def choose_qt_binding() -> str:
    """Prefer PyQt6 where it is installed and the user has not chosen (``QT_API``): napari 0.9
    deprecates PyQt5 and says so in a toast on every start. PyQt5 still works
    (``QT_API=pyqt5``). Returns the binding chosen ("" = qtpy's own choice)."""
    import importlib.util
    import os

    if os.environ.get("QT_API"):
        return os.environ["QT_API"]
    if "qtpy" not in sys.modules and importlib.util.find_spec("PyQt6") is not None:
        os.environ["QT_API"] = "pyqt6"
        return "pyqt6"
    return ""


def _seeds_layer(viewer):
    """The labels layer holding the sample's (or the user's) seed strokes, if any."""
    import napari.layers

    for lay in reversed(viewer.layers):
        if isinstance(lay, napari.layers.Labels) and "seed" in lay.name.lower() \
                and lay.data.any():
            return lay
    return None


def _first_view_slice(viewer, seeds) -> int:
    """The slice (first axis) to open on: the one with the most seed labels (then voxels), so
    the strokes are in view; the middle slice when there are none."""
    import numpy as np

    if seeds is None or seeds.ndim != viewer.dims.ndim:
        return viewer.dims.nsteps[0] // 2
    data = np.asarray(seeds.data)
    best, score = viewer.dims.nsteps[0] // 2, (0, 0)
    for z in np.unique(np.nonzero(data.reshape(data.shape[0], -1))[0]):
        plane = data[z]
        s = (len(np.unique(plane[plane != 0])), int(np.count_nonzero(plane)))
        if s > score:
            best, score = int(z), s
    # the viewer's step along axis 0 for that slice of the seeds layer (same grid as the image)
    world = seeds.translate[0] + seeds.scale[0] * best
    start, _stop, step = viewer.dims.range[0]
    return int(round((world - start) / step)) if step else best


def _fit_window(viewer) -> None:
    """Make the window large enough for the image and the dock (within the screen), then fit
    the image into the canvas."""
    from qtpy.QtWidgets import QApplication

    win = viewer.window._qt_window
    width, height = 1500, 950
    screen = QApplication.primaryScreen()
    if screen is not None:
        avail = screen.availableGeometry()
        width, height = min(width, avail.width()), min(height, avail.height())
    win.resize(max(win.width(), width), max(win.height(), height))
    QApplication.processEvents()
    viewer.reset_view()


if __name__ == "__main__":
    sys.exit(main())
