"""Make docs/correct.png: `xvfb-run -a python docs/correct_screenshot.py` (then scaled to 1000 px
wide and quantised to 128 colours with Pillow)."""
import numpy as np, napari
from qtpy.QtWidgets import QApplication
from napari_segsuite.widgets.correct import CorrectWidget
viewer = napari.Viewer(title="napari-segsuite")
viewer.open_sample("napari-segsuite", "brain")
viewer.layers.remove("seeds")
for n in ("T2", "FLAIR"):
    viewer.layers[n].visible = False
gt = viewer.layers["ground truth"]
gt.visible = True
viewer.layers.selection.active = gt
w = CorrectWidget(viewer)
viewer.window.add_dock_widget(w, name="Correct")
viewer.dims.set_current_step(0, viewer.dims.nsteps[0] // 2)
w.tabs.setCurrentIndex(2)
w.labels_edit.setText("7")
w.overwrite.setChecked(True)
w.locked_edit.setText("1")
w.locked_edit.editingFinished.emit()
w.margin_mm.setValue(2.0)
w.margin_button.click()
viewer.window._qt_window.resize(1250, 760)
for _ in range(10):
    QApplication.processEvents()
from napari._qt.dialogs.qt_notification import NapariQtNotification
for n in viewer.window._qt_window.findChildren(NapariQtNotification):
    n.close()
for _ in range(5):
    QApplication.processEvents()
viewer.screenshot("docs/correct_full.png", canvas_only=False)
print(w.info.text(), np.unique(gt.data))
viewer.close()
