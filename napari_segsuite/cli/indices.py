"""``segsuite index SCENE --index ndvi[,ndwi,...] -o OUT``: spectral indices of a scene.

SCENE is a Landsat / Sentinel-2 scene folder, its MTL file, or a GeoTIFF whose bands are named
(descriptions such as "red", "NIR"). Indices: ndvi, ndwi, mndwi, ndbi, nbr, savi, evi (see
docs/satellite.md). Stored digital numbers are scaled to reflectance with the scene's metadata
first. OUT holds one index (or one band per index, named), float32, NaN where the QA band
says fill, cloud or cloud shadow (unless --keep-clouds) and where the index is undefined; a
.tif OUT is a GeoTIFF with the scene's CRS and transform and nodata NaN.
"""

from __future__ import annotations

import argparse

from ..core.base.params import info
from ..core.indices.pipeline import IndexParams
from ._common import add_output_args, add_param
from ._scene import add_scene_args


def register(sub) -> None:
    p = sub.add_parser("index", help="spectral indices (NDVI, NDWI, NDBI, ...) of a scene",
                       description=__doc__.split("\n\n", 1)[1].strip(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="SCENE",
                   help="scene folder, MTL file or GeoTIFF with named bands")
    add_output_args(p)
    add_param(p, IndexParams, "index", required=True, default=None, choices=None,
              metavar="NAME[,NAME..]", help=info(IndexParams, "index").help)
    add_scene_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.indices import index_job, index_keys
    from ._common import check_output, run_job, write_output
    from ._scene import read_scene_input

    params = IndexParams(index=args.index)
    index_keys(params.index)  # an unknown index: said before reading the scene
    check_output(args.output, args.force)
    img, invalid = read_scene_input(args.image, args, "SCENE", require_geo=True)
    out = run_job(index_job(img, params, invalid=invalid), args)
    write_output(args.output, out, args.force, args.quiet)
    return 0
