"""``python -m napari_segsuite`` is ``segsuite``."""

from .cli import entry

entry()
