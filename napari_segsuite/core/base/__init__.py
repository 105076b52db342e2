"""What every method builds on: errors, the progress/job protocol, the image model with its
geometry, atomic file writes, memory estimates, regions of interest, CPU threads, the defaults
of the automatic methods and the small kernels shared by several methods; and the helpers
written once for all of them (docs/development.md, "Conventions"): ``channels`` (channels-last,
1st-99th percentile scaling), ``device`` (auto/cpu/cuda), ``neighbours`` (the connectivity
convention, neighbour offsets) and ``labels`` (the label dtype rule).

Nothing here knows about a particular algorithm; every method package imports from here.
"""

from .errors import InputError, Cancelled
from .image import SegImage
from .progress import Progress, run, report

__all__ = ["InputError", "Cancelled", "SegImage", "Progress", "run", "report"]
