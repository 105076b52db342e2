"""``segsuite cluster IMAGE -o OUT --method kmeans|kmedoids|slic|spectral [--k N] [--segments N]``.

- kmeans / kmedoids: every voxel into K labels (fit on a sample, assign in chunks); with
  ``--segments`` the image is first over-segmented into SLIC superpixels whose mean features
  are clustered instead.
- slic: the superpixel map (ids 1..N); with ``--k`` too, the superpixels are then clustered into
  K labels by (size-weighted) K-means.
- spectral: SLIC superpixels (``--segments``, default 400) clustered into K labels by spectral
  clustering of an affinity between all superpixel pairs (feature similarity, voxel-weighted).
Labels 1..K are ordered by the mean of the first channel (1 = darkest); 0 outside ``--mask``.
IMAGE may be a Landsat / Sentinel-2 scene folder (or MTL file): its fill, cloud and cloud-shadow
pixels (QA band) and nodata are left out (label 0) unless --keep-clouds; a .tif OUT of a
georeferenced IMAGE is a GeoTIFF with its CRS and transform and a colour table. A lazily read
scene (--lazy, or larger than 512 MiB) is clustered block by block with kmeans / kmedoids.
"""

from __future__ import annotations

import argparse

from ..core.base.defaults import HELP, SLIC
from ..core.base.labels import label_dtype
from ._common import add_output_args, positive_int
from ._scene import add_scene_args


def register(sub) -> None:
    p = sub.add_parser("cluster", help="cluster voxels or superpixels into labels",
                       description=__doc__.split("\n\n", 1)[1].strip(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="IMAGE", help="image file (multi-channel files use all channels)")
    add_output_args(p)
    p.add_argument("--method", required=True, choices=("kmeans", "kmedoids", "slic", "spectral"))
    p.add_argument("--k", type=int, default=None, help="number of clusters K (>= 2)")
    p.add_argument("--segments", type=int, default=None, help="number of SLIC superpixels (>= 1)")
    p.add_argument("--compactness", type=float, default=SLIC["compactness"],
                   help=HELP["compactness"])
    p.add_argument("--mask", metavar="MASK", help="only cluster voxels where MASK is non-zero")
    p.add_argument("--spatial-weight", type=float, default=0.0,
                   help="weight of physical position among the features (default 0)")
    p.add_argument("--sample", type=positive_int, default=None,
                   help="voxels sampled for the fit (default 50000 for kmeans, 3000 for kmedoids)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_scene_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..core.cluster import cluster_steps
    from ..core.base.errors import InputError
    from ._common import (check_output, read_label_input, require_finite, run_job,
                          write_output)
    from ._scene import read_scene_input

    if args.k is not None and args.k < 2:
        raise InputError(f"--k must be at least 2, got {args.k}")
    if args.segments is not None and args.segments < 1:
        raise InputError(f"--segments must be at least 1, got {args.segments}")
    if args.method in ("kmeans", "kmedoids", "spectral") and args.k is None:
        raise InputError(f"--method {args.method} needs --k N")
    if args.compactness <= 0:
        raise InputError(f"--compactness must be positive, got {args.compactness}")
    if not (args.spatial_weight >= 0 and np.isfinite(args.spatial_weight)):
        raise InputError(f"--spatial-weight must be a number >= 0, got {args.spatial_weight}")
    check_output(args.output, args.force)
    img, invalid = read_scene_input(args.image, args)  # invalid: a scene's clouds, fill
    mask = None
    if args.mask:
        mask = read_label_input(args.mask, None, "MASK", img).array != 0
    if hasattr(img.array, "dask") and args.method in ("kmeans", "kmedoids"):
        return _run_lazy(args, img, invalid, mask)
    img, mask = _drop_invalid(img, invalid, mask)
    require_finite(img, "IMAGE")
    kw = dict(channel_axis=-1 if img.multichannel else None, spacing=img.spacing, mask=mask,
              spatial_weight=args.spatial_weight, random_state=args.seed,
              compactness=args.compactness)
    if args.sample is not None:
        kw["sample_size"] = args.sample
    labels = run_job(cluster_steps(img.array, args.method, args.k, args.segments, **kw), args)
    top = int(labels.max()) if labels.size else 0
    dtype = label_dtype(top)  # the one rule (core.base.labels)
    write_output(args.output, _result(img, labels.astype(dtype), top), args.force, args.quiet)
    return 0


def _result(img, labels, top: int):
    """The label image to write; a georeferenced one names its classes (colour table)."""
    extra = {"label_names": {v: f"cluster {v}" for v in range(1, top + 1)}} \
        if img.metadata.get("crs") else {}
    return img.like(labels, name="clusters", **extra)


def _drop_invalid(img, invalid, mask):
    """In memory: invalid pixels (NaN reflectance of fill, clouds) set to 0 and masked out."""
    import numpy as np

    if hasattr(img.array, "dask"):
        img.array = np.asarray(img.array)
    if invalid is None:
        return img, mask
    invalid = np.asarray(invalid)
    if invalid.any():
        arr = img.array.copy()
        arr[invalid] = 0
        img.array = arr
    keep = ~invalid
    return img, keep if mask is None else (mask & keep)


def _run_lazy(args, img, invalid, mask):
    """K-means / K-medoids of a lazily read scene, block by block (core.cluster.cluster_dask)."""
    from ..core.cluster import cluster_dask
    from ..core.base.errors import InputError
    from ._common import write_output

    if args.spatial_weight:
        raise InputError("--spatial-weight is not supported on a lazily read scene; leave out "
                         "--lazy")
    keep = None if invalid is None else ~invalid
    if mask is not None:
        keep = mask if keep is None else keep & mask
    kw = {"sample_size": args.sample} if args.sample is not None else {}
    labels = cluster_dask(img.array, args.k, args.method, channel_axis=-1 if img.multichannel
                          else None, random_state=args.seed, mask=keep, **kw)
    dtype = label_dtype(args.k)
    write_output(args.output, _result(img, labels.astype(dtype), args.k), args.force,
                 args.quiet)
    return 0
