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
           "U-Net predict", "Spectral index")


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
    from .core.errors import InputError
    from .io import READ_EXTENSIONS, can_read, extension

    for f in args.files:  # before any window opens
        if not Path(f).exists():
            p.error(f"{f}: no such file or folder")
        if not can_read(f):
            p.error(f"{f}: folder holds no DICOM series or satellite scene" if Path(f).is_dir() else
                    f"{f}: unsupported format {extension(f) or '(no extension)'}; use one of "
                    + ", ".join(READ_EXTENSIONS) + " or a DICOM series folder")

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
    if viewer.dims.ndisplay == 2 and viewer.layers and viewer.layers[0].ndim == 3:
        viewer.dims.set_current_step(0, viewer.dims.nsteps[0] // 2)
    if args.screenshot:
        from qtpy.QtWidgets import QApplication

        viewer.window._qt_window.resize(1500, 950)
        for _ in range(5):
            QApplication.processEvents()
        viewer.screenshot(args.screenshot, canvas_only=False)
        viewer.close()
        return 0
    napari.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
