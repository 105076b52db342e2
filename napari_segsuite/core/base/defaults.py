"""The defaults of the automatic methods, in one place: the CLI's flags and the widgets' fields
read them from here (values and the one-line reasons shown as help and tooltips).

Each default was chosen on real images (``napari_segsuite.samples.real``), not only on the
bundled phantoms; docs/defaults.md gives the measurements behind each one.
"""

from __future__ import annotations

#: SLIC superpixels (``cluster --method slic``, and the superpixels that spectral clustering and
#: the superpixel modes of K-means / K-medoids cluster): channels scaled to [0, 1]
SLIC = {
    "n_segments": 400,
    "compactness": 0.1,
}

HELP = {
    "compactness": "SLIC compactness on channels scaled to [0, 1]: higher = more regular "
                   "superpixels, lower = closer to intensity edges; default 0.1 (adheres to "
                   "tissue boundaries on real MRI in 2D and 3D; 1.0 cuts across them)",
}
