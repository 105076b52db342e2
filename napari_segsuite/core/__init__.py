"""The napari-free core: data model, progress protocol, algorithms and metrics.

Nothing under ``napari_segsuite.core`` may import napari, Qt (qtpy) or, at module level, torch.
"""

from .base.errors import InputError, Cancelled
from .base.image import SegImage
from .base.progress import Progress, run, report

__all__ = ["InputError", "Cancelled", "SegImage", "Progress", "run", "report"]
