"""Render the README screenshot: the brain sample, its seeds, a GrowCut result and the widget.

    xvfb-run -a python scripts/make_screenshot.py docs/screenshot.png

Everything comes from the project's own code (the brain phantom and its seed strokes); GrowCut
runs on T1+T2+FLAIR together, exactly as the widget would run it.
"""

from __future__ import annotations

import sys

import numpy as np


def main(out: str) -> int:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_segsuite.widgets._worker import set_synchronous

    viewer = napari.Viewer(title="napari-segsuite")
    viewer.open_sample("napari-segsuite", "brain")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-segsuite", "GrowCut")
    # what a user does: tick the three contrasts, keep the sample's seeds, press Run
    widget.images.set_layers([viewer.layers[n] for n in ("T1", "T2", "FLAIR")])
    seeds = viewer.layers["seeds"]
    widget.seeds.set_layer(seeds)
    set_synchronous(True)
    widget.run()
    set_synchronous(False)
    result = viewer.layers["GrowCut"]
    result.opacity = 0.45
    # the sample's "background" seed label, shown transparent (the data is unchanged)
    bg = seeds.metadata.get("background_label")
    if bg is not None:
        from napari.utils.colormaps import DirectLabelColormap

        colors = {int(v): result.colormap.map(int(v)) for v in np.unique(result.data) if v}
        colors[int(bg)] = np.zeros(4)
        colors[None] = np.zeros(4)
        result.colormap = DirectLabelColormap(color_dict=colors)
    for name in ("T2", "FLAIR", "ground truth"):
        if name in viewer.layers:
            viewer.layers[name].visible = False
    viewer.layers["seeds"].visible = True
    z = int(np.argmax((np.asarray(seeds.data) > 0).sum(axis=(1, 2))))
    viewer.dims.set_current_step(0, z)
    viewer.window._qt_window.resize(1500, 950)
    for _ in range(10):
        QApplication.processEvents()
    # toasts (e.g. napari's PyQt5 deprecation notice) would cover the canvas
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
    for _ in range(10):
        QApplication.processEvents()
    viewer.screenshot(out, canvas_only=False)
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png"))
