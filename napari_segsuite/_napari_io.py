"""napari contributions for I/O and samples: the reader, the writers and the sample-data commands.

These functions return/consume napari LayerDataTuples but import neither napari nor Qt.
Geometry: spacing -> ``scale``, origin -> ``translate``, direction -> ``metadata["direction"]``;
the writers put all three back into the file.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Union

import numpy as np

from .core.base.errors import InputError
from .core.base.image import SegImage

log = logging.getLogger(__name__)

_LABEL_NAME = re.compile(r"(^|[^a-z])(labels?|label_?maps?|seg|segmentations?|masks?|seeds?|gt|"
                         r"truth|annotations?|instances?|aseg|parc)([^a-z]|$)", re.IGNORECASE)


def looks_like_labels(img: SegImage) -> bool:
    """Integer, single-channel data named like a label map (``*_seg``, ``labels``, ``*_masks``,
    ...), or integer data with few distinct values, opens as a labels layer; so does float data
    named like a label map whose values are all whole numbers >= 0 (a segmentation saved as
    floats)."""
    if img.multichannel:
        return img.array.dtype == bool
    if not np.issubdtype(img.array.dtype, np.integer):
        if img.array.dtype.kind == "f" and img.array.size and _LABEL_NAME.search(img.name):
            a = img.array
            return bool(np.all(np.isfinite(a)) and a.min() >= 0 and a.max() <= 2**31 - 1
                        and np.all(a == np.round(a)))
        return img.array.dtype == bool
    if _LABEL_NAME.search(img.name):
        return True
    if img.array.size and img.array.min() < 0:
        return False
    sample = img.array.ravel()[:: max(1, img.array.size // 2_000_000)]
    return len(np.unique(sample)) <= 32


def layer_tuple(img: SegImage, kind: Optional[str] = None, **extra: Any) -> tuple:
    """A LayerDataTuple for a SegImage: labels or image (multichannel -> one layer per channel)."""
    kind = kind or ("labels" if looks_like_labels(img) else "image")
    kw = img.napari_kwargs()
    kw["name"] = img.name
    data = img.array
    if kind == "labels":
        if data.dtype == bool or not np.issubdtype(data.dtype, np.integer):
            data = data.astype(np.int32)
        label_names = img.metadata.get("label_names")
        if label_names:
            kw["metadata"]["label_names"] = {int(k): v for k, v in label_names.items()}
    elif img.multichannel:
        names = img.metadata.get("channel_names") or [f"channel {i}" for i in range(img.n_channels)]
        kw["channel_axis"] = -1
        kw["name"] = [f"{img.name} [{n}]" for n in names]
        kw["blending"] = "additive"
    kw.update(extra)
    return (data, kw, kind)


# -- reader ------------------------------------------------------------------------------------
def napari_get_reader(path: Union[str, Sequence[str]]) -> Optional[Callable]:
    """Return a reader for paths we can read, else None. Never raises."""
    from .io import can_read

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    try:
        if not paths or not all(can_read(p) for p in paths):
            return None
    except Exception:  # noqa: BLE001 - a reader check must never raise into napari
        return None
    return read_layers


def read_layers(path: Union[str, Sequence[str]]) -> List[tuple]:
    """Read each path into layer data tuples (images, labels, channels split; a satellite
    scene's bands, then its QA mask as a labels layer)."""
    from .io import extension, read_image
    from .io.geo import LAZY_BYTES, is_geotiff, read_geotiff
    from .io.lazy import is_zarr
    from .io.scenes import is_scene, read_scene

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    out = []
    for p in paths:
        # scenes and GeoTIFFs larger than geo.LAZY_BYTES open lazily (dask); a scene with bands
        # at several resolutions opens on its finest grid
        if is_zarr(p) or (extension(p) in (".tif", ".tiff") and not is_geotiff(p)
                          and Path(p).stat().st_size > LAZY_BYTES):
            out.append(lazy_layer(read_image(p, lazy=True)))  # zarr, OME-Zarr, large TIFF
            continue
        if is_scene(p):
            img = read_scene(p, resolution="finest")
        elif extension(p) in (".tif", ".tiff") and is_geotiff(p):
            img = read_geotiff(p)
        else:
            img = read_image(p)
        out += scene_layers(img)
    return out


def lazy_layer(img: SegImage) -> tuple:
    """The layer tuple of a lazily read image (dask): a multiscale image layer when it has
    several levels (OME-Zarr), labels only when integer and named like a label map (no voxel
    is read to decide)."""
    levels = img.metadata.pop("multiscale", None) or [img.array]
    integer = np.issubdtype(img.array.dtype, np.integer)
    kind = "labels" if integer and _LABEL_NAME.search(img.name) else "image"
    kw = img.napari_kwargs()
    kw["name"] = img.name
    if len(levels) > 1:
        kw["multiscale"] = True
    if kind == "image" and img.multichannel:
        names = img.metadata.get("channel_names") or [f"channel {i}" for i in range(img.n_channels)]
        kw.update(channel_axis=-1, name=[f"{img.name} [{n}]" for n in names], blending="additive")
    if kind == "image" and integer:  # napari would scan the whole volume for them otherwise
        info = np.iinfo(img.array.dtype)
        kw.setdefault("contrast_limits", (max(info.min, 0), min(info.max, 65535)))
    return (levels if len(levels) > 1 else levels[0], kw, kind)


def scene_layers(img: SegImage, **extra: Any) -> List[tuple]:
    """The layer tuples of an image; a scene's QA classes (``metadata["qa"]``) become a second,
    labels layer "<name> QA mask" (fill, cloud, cloud shadow, ...), usable as the clustering
    widget's mask (its excluded classes are left out)."""
    from .io.scenes import qa_layer_metadata

    qa = img.metadata.pop("qa", None)
    if not img.multichannel and img.metadata.get("band_name"):  # a band description
        extra.setdefault("name", f"{img.name} [{img.metadata['band_name']}]")
    out = [layer_tuple(img, **extra)]
    if qa is not None:
        meta = {k: v for k, v in img.napari_kwargs()["metadata"].items()
                if k in ("direction", "spacing", "origin", "crs", "transform")}
        meta.update(qa_layer_metadata())
        out.append((qa, {"name": f"{img.name} QA mask", "scale": tuple(img.spacing),
                         "translate": tuple(img.origin), "metadata": meta, "opacity": 0.5,
                         "visible": False}, "labels"))
    return out


# -- writers -----------------------------------------------------------------------------------
def _write(path: str, data: Any, meta: dict, labels: bool) -> List[str]:
    from .io import write_image

    arr = np.asarray(data[0] if meta.get("multiscale") else data)
    rgb = bool(meta.get("rgb", False))
    img = SegImage.from_napari(arr, scale=meta.get("scale"), translate=meta.get("translate"),
                               metadata=meta.get("metadata") or {}, multichannel=rgb,
                               name=meta.get("name", "image"))
    from .io.geo import geo_keys

    img.metadata = geo_keys(img.metadata)  # a georeferenced layer: CRS and nodata to GeoTIFF
    if labels and img.metadata and np.issubdtype(img.array.dtype, np.integer):
        names = (meta.get("metadata") or {}).get("label_names") or {}
        top = int(img.array.max()) if img.array.size else 0
        img.metadata["label_names"] = {v: names.get(v, f"class {v}") for v in range(1, top + 1)
                                       } if top < 256 else dict(names)
    if labels and np.issubdtype(img.array.dtype, np.integer):
        top = int(img.array.max()) if img.array.size else 0
        low = int(img.array.min()) if img.array.size else 0
        for dt in (np.uint8, np.uint16, np.int32):
            if np.iinfo(dt).min <= low and top <= np.iinfo(dt).max:
                img.array = img.array.astype(dt, copy=False)
                break
    # napari's save dialog has already asked before replacing a file
    out = str(write_image(path, img, force=True))
    _warn_tif_geometry(out, img)
    return [out]


def _warn_tif_geometry(path: str, img: SegImage) -> None:
    """Say what of the layer's geometry the file could not keep (a TIFF holds the in-plane pixel
    size only; napari shows warnings as notifications)."""
    from .io import lost_geometry

    lost = lost_geometry(path, img)
    if lost:
        import warnings

        warnings.warn(f"{path}: written without its {', '.join(lost)} (the format cannot hold "
                      "them); save as .nii.gz, .nrrd or .mha to keep them", UserWarning,
                      stacklevel=3)


def write_image(path: str, data: Any, meta: dict) -> List[str]:
    """napari writer for image layers: the file keeps spacing, origin and direction."""
    return _write(path, data, meta, labels=False)


def write_labels(path: str, data: Any, meta: dict) -> List[str]:
    """napari writer for labels layers (smallest integer type that holds the labels)."""
    return _write(path, data, meta, labels=True)


# -- samples -----------------------------------------------------------------------------------
def sample_layers(name: str, seed: int = 0) -> List[tuple]:
    """All layers of a sample: its images, then its labels (ground truth hidden under seeds)."""
    from .samples import get_sample

    data = get_sample(name).make(seed=seed)
    out = []
    for key, img in data.images.items():
        img.name = img.name if img.name not in ("image", "") else key
        extra = {"name": _title(key, img)}
        if key == "ct":  # a lung-to-bone window rather than napari's min/max
            extra["contrast_limits"] = (-1000.0, 1000.0)
        out.append(layer_tuple(img, "image", **extra) if not img.multichannel
                   else layer_tuple(img, "image"))
    for key, img in data.labels.items():
        names = data.label_names.get(key)
        if names:
            img.metadata["label_names"] = names
        extra = {"name": _title(key, img), "opacity": 0.5}
        if key not in ("seeds",):
            extra["visible"] = key == "labels" and "seeds" not in data.labels
        out.append(layer_tuple(img, "labels", **extra))
    return out


def _title(key: str, img: SegImage) -> str:
    return {"labels": "ground truth", "t1": "T1", "t2": "T2", "flair": "FLAIR"}.get(key, key)


def sample_brain():
    return sample_layers("brain")


def sample_ct():
    return sample_layers("ct")


def sample_landsat(seed: int = 0):
    """The LANDSAT sample as it arrives from the USGS: a Collection 2 scene folder (written once
    into a cache folder by our own generator) opened by the scene reader, bands scaled to surface
    reflectance; then the land-cover ground truth and the QA mask."""
    from .io.geo import read_geotiff
    from .io.scenes import read_scene
    from .samples.landsat import LABEL_NAMES, PRODUCT_ID

    folder = landsat_scene_folder(seed)
    img = read_scene(folder / PRODUCT_ID, reflectance=True, name="landsat")
    bands, *qa = scene_layers(img)
    gt = read_geotiff(folder / f"{PRODUCT_ID}_labels.tif", name="ground truth")
    gt.metadata["label_names"] = dict(LABEL_NAMES)
    return [bands, layer_tuple(gt, "labels", opacity=0.5, visible=True), *qa]


def landsat_scene_folder(seed: int = 0) -> Path:
    """The cache folder holding the LANDSAT sample's scene (written on first use)."""
    import os
    import shutil
    import tempfile

    from . import __version__
    from .samples.landsat import PRODUCT_ID, write_scene

    root = Path(tempfile.gettempdir()) / "napari-segsuite-samples"
    folder = root / f"landsat-{__version__}-seed{seed}"  # a new version writes it anew
    if (folder / f"{PRODUCT_ID}_labels.tif").exists():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    part = Path(tempfile.mkdtemp(prefix=f".landsat-{os.getpid()}-", dir=root))
    try:
        write_scene(part, seed=seed)
        try:
            os.replace(part, folder)
        except OSError:  # another process wrote it meanwhile
            pass
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return folder


def sample_nuclei():
    return sample_layers("nuclei")
