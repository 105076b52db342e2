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

from ._common import add_output_args
from ._scene import add_scene_args


def register(sub) -> None:
    p = sub.add_parser("index", help="spectral indices (NDVI, NDWI, NDBI, ...) of a scene",
                       description=__doc__.split("\n\n", 1)[1].strip(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="SCENE",
                   help="scene folder, MTL file or GeoTIFF with named bands")
    add_output_args(p)
    p.add_argument("--index", required=True, metavar="NAME[,NAME..]",
                   help="ndvi, ndwi, mndwi, ndbi, nbr, savi, evi (comma-separated for several)")
    add_scene_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.base.errors import InputError
    from ..core.indices import INDICES, index_image
    from ._common import check_output, write_output
    from ._scene import read_scene_input

    keys = [k.strip().lower() for k in args.index.split(",") if k.strip()]
    bad = [k for k in keys if k not in INDICES]
    if not keys or bad:
        raise InputError(f"--index: unknown index {', '.join(bad) or repr(args.index)}; choose "
                         f"from {', '.join(INDICES)}")
    check_output(args.output, args.force)
    img, invalid = read_scene_input(args.image, args, "SCENE", require_geo=True)
    out = index_image(img, keys, invalid)
    write_output(args.output, out, args.force, args.quiet)
    return 0
