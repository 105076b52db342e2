"""The napari-free core: data model, progress protocol, algorithms and metrics.

Nothing under ``napari_segsuite.core`` may import napari, Qt (qtpy) or, at module level, torch.
"""

from .errors import InputError, Cancelled
from .image import SegImage
from .progress import Progress, run, report

__all__ = ["InputError", "Cancelled", "SegImage", "Progress", "run", "report"]
