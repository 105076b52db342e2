"""Options and reading shared by the commands that take satellite scenes (``cluster``,
``index``): ``--resolution``, ``--reflectance``, ``--keep-clouds``, ``--lazy``.

IMAGE may be a Landsat / Sentinel-2 scene folder or MTL file, or a GeoTIFF; the scene's QA
classes (fill, cloud, cloud shadow, dilated cloud, cirrus) and nodata pixels are left out unless
``--keep-clouds``. Heavy imports (rasterio) happen only for georeferenced inputs.
"""

from __future__ import annotations

import argparse


def add_scene_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("satellite scenes (IMAGE a Landsat / Sentinel-2 folder, an "
                                  "MTL file or a GeoTIFF)")
    g.add_argument("--resolution", type=float, metavar="M", default=None,
                   help="resample the scene's bands to M metres per pixel (needed when its "
                        "bands have different resolutions, e.g. Sentinel-2: 10, 20 or 60)")
    g.add_argument("--reflectance", action="store_true",
                   help="scale the bands to surface reflectance with the scene's metadata")
    g.add_argument("--keep-clouds", action="store_true",
                   help="do not leave out the QA band's fill, cloud and shadow pixels")
    g.add_argument("--lazy", action="store_true",
                   help="read the scene lazily (dask; automatic above 512 MiB)")


def read_scene_input(path: str, args: argparse.Namespace, what: str = "IMAGE",
                     require_geo: bool = False):
    """(image, invalid) for IMAGE: ``invalid`` is the boolean mask of pixels to leave out
    (QA clouds, shadows, fill, nodata), or None. ``require_geo``: IMAGE must be a scene or a
    georeferenced raster (a one-line error otherwise)."""
    from pathlib import Path

    from ..core.base.errors import InputError
    from ..io import extension
    from ..io.scenes import is_scene, read_scene

    scene_opts = args.resolution is not None or args.reflectance or args.lazy
    if is_scene(path):
        try:
            img = read_scene(path, resolution=args.resolution, reflectance=args.reflectance,
                             lazy=True if args.lazy else None)
        except InputError as exc:
            raise InputError(f"{what}: {exc}") from None
    else:
        from ..io import geo

        p = Path(path)
        georef = p.is_file() and extension(p) in (".tif", ".tiff") and geo.is_geotiff(p)
        if (scene_opts or require_geo) and not georef:
            opts = [o for o, on in (("--resolution", args.resolution is not None),
                                    ("--reflectance", args.reflectance),
                                    ("--lazy", args.lazy)) if on]
            why = f"{', '.join(opts)} need(s)" if opts else "this command needs"
            raise InputError(f"{what}: {path} is not a satellite scene or a georeferenced "
                             f"raster; {why} a Landsat / Sentinel-2 scene folder, its MTL file "
                             "or a GeoTIFF")
        if georef:
            if args.resolution is not None or args.reflectance:
                raise InputError(f"{what}: --resolution and --reflectance apply to scene "
                                 f"folders; {path} is a single GeoTIFF")
            try:
                img = geo.read_geotiff(p, lazy=True if args.lazy else None)
            except InputError as exc:
                raise InputError(f"{what}: {exc}") from None
        else:
            from ._common import read_input

            img = read_input(path, what)
    invalid = None
    if not args.keep_clouds:
        from ..io.scenes import invalid_mask

        invalid = invalid_mask(img)
    return img, invalid
