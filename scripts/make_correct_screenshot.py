"""Render docs/correct.png: the brain sample's ground truth in the Correct widget, the tumour core
grown by 2 mm over its neighbours with CSF locked.

    xvfb-run -a python scripts/make_correct_screenshot.py docs/correct.png

The window is grabbed at 1250 x 760 and scaled to 1000 px wide, 128 colours (a small PNG).
"""

from __future__ import annotations

import sys


def main(out: str) -> int:
    import napari
    from PIL import Image
    from qtpy.QtWidgets import QApplication

    from napari_segsuite.widgets.correct import CorrectWidget

    viewer = napari.Viewer(title="napari-segsuite")
    viewer.open_sample("napari-segsuite", "brain")
    viewer.layers.remove("seeds")
    for name in ("T2", "FLAIR"):
        viewer.layers[name].visible = False
    truth = viewer.layers["ground truth"]
    truth.visible = True
    viewer.layers.selection.active = truth
    widget = CorrectWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Correct")
    viewer.dims.set_current_step(0, viewer.dims.nsteps[0] // 2)
    # what a user does: lock CSF (1), grow the tumour core (7) by 2 mm over its neighbours
    widget.tabs.setCurrentIndex(2)
    widget.labels_edit.setText("7")
    widget.overwrite.setChecked(True)
    widget.locked_edit.setText("1")
    widget.locked_edit.editingFinished.emit()
    widget.margin_mm.setValue(2.0)
    widget.margin_button.click()
    viewer.window._qt_window.resize(1250, 760)
    for _ in range(10):
        QApplication.processEvents()
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
    for _ in range(5):
        QApplication.processEvents()
    shot = viewer.screenshot(canvas_only=False)
    viewer.close()
    im = Image.fromarray(shot[..., :3])
    im = im.resize((1000, round(im.size[1] * 1000 / im.size[0])), Image.LANCZOS)
    im.quantize(colors=128).save(out, optimize=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/correct.png"))
