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

from ..core.base.params import info
from ..core.cluster.pipeline import ClusterParams
from ._common import add_output_args, add_param, positive_int
from ._scene import add_scene_args


def register(sub) -> None:
    p = sub.add_parser("cluster", help="cluster voxels or superpixels into labels",
                       description=__doc__.split("\n\n", 1)[1].strip(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="IMAGE", help="image file (multi-channel files use all channels)")
    add_output_args(p)
    add_param(p, ClusterParams, "method", required=True, default=None,
              help=info(ClusterParams, "method").help)
    add_param(p, ClusterParams, "k")
    add_param(p, ClusterParams, "segments")
    add_param(p, ClusterParams, "compactness")
    p.add_argument("--mask", metavar="MASK", help="only cluster voxels where MASK is non-zero")
    add_param(p, ClusterParams, "spatial_weight")
    add_param(p, ClusterParams, "sample", type=positive_int)
    add_param(p, ClusterParams, "seed")
    add_scene_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.base.params import defaults
    from ..core.cluster import cluster_job
    from ._common import check_output, read_label_input, run_job, write_output
    from ._scene import read_scene_input

    params = ClusterParams(**{name: getattr(args, name) for name in defaults(ClusterParams)})
    check_output(args.output, args.force)
    img, invalid = read_scene_input(args.image, args)  # invalid: a scene's clouds, fill
    mask = None
    if args.mask:
        mask = read_label_input(args.mask, None, "MASK", img).array
    labels = run_job(cluster_job(img, params, mask=mask, invalid=invalid), args)
    write_output(args.output, labels, args.force, args.quiet)
    return 0
