"""The defaults of the automatic methods, in one place: the CLI's flags and the widgets' fields
read them from here (values and the one-line reasons shown as help and tooltips).

Each default was chosen on real images (``napari_segsuite.samples.real``), not only on the
bundled phantoms; docs/defaults.md gives the measurements behind each one.
"""

from __future__ import annotations

#: ``watershed --instances`` / the widget's "Instances" source (core.watershed.instances_steps)
INSTANCES = {
    "sigma": None,               # None: 1/16 of the typical object radius
    "threshold_method": "local",
    "min_distance": None,        # None: h-maxima of the distance at the estimated object scale
    "min_size": None,            # None: a fifth of a typical object
    "background": 0.0,
}

#: ``watershed --auto-markers`` / the widget's "Auto: entropy classes (K)" source
AUTO_MARKERS = {
    "n_labels": 3,
    "exclude_constant_background": True,
}

HELP = {
    "sigma": "Gaussian smoothing, physical units. Instances: default automatic (1/16 of the "
             "typical object radius estimated from the image; 0 = none). Gradient modes: "
             "default 0 (none)",
    "threshold_method": "foreground threshold for instances: 'local' (default: brighter than "
                        "the Gaussian mean within one object radius and above Li's global "
                        "threshold; robust to uneven brightness), or one global threshold "
                        "'otsu', 'li', 'triangle'",
    "min_distance": "minimum distance between object centres, physical units; default "
                    "automatic: h-maxima of the smoothed distance transform at the object "
                    "scale estimated from the image (h = radius/10), so one nucleus keeps one "
                    "marker",
    "min_size": "drop objects smaller than this many voxels; default automatic (a fifth of a "
                "typical object); 0 keeps all",
    "background": "subtract a smooth background (Gaussian of this physical sigma, about 3 "
                  "object radii) before thresholding; default 0 (off)",
    "auto_markers": "automatic markers: on a masked / skull-stripped image (a constant "
                    "background) the background stays 0 and K intensity classes are found "
                    "inside the object; otherwise local-entropy minima clustered into K classes",
}
