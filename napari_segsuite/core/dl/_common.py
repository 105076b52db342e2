"""Small helpers shared by training and inference."""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from ..base.threads import auto_threads  # noqa: F401  (re-exported: torch_threads uses it)

from ..base.errors import InputError
from ..base.image import SegImage
from ..base.labels import label_dtype  # noqa: F401  (the one rule; used by infer)


def resolve_device(name: Optional[str] = "auto") -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one is an
    InputError. (Called first by training and inference: where importing Triton would crash
    the process, it is kept out before ``torch.optim`` probes for it.)"""
    from ..growcut._triton import keep_triton_out

    from ..base.device import resolve_device as resolve

    keep_triton_out()
    return resolve(name)


def as_image(image: Union[SegImage, np.ndarray], spatial_ndim: Optional[int] = None,
             what: str = "image") -> SegImage:
    """A SegImage from a SegImage or an array; an array with one axis more than
    ``spatial_ndim`` has its channels last."""
    if isinstance(image, SegImage):
        return image
    arr = np.asarray(image)
    if arr.dtype == object or arr.ndim < 2:
        raise InputError(f"{what}: expected a 2D or 3D array, got shape {arr.shape}")
    multichannel = spatial_ndim is not None and arr.ndim == spatial_ndim + 1
    return SegImage(arr, multichannel=multichannel, name=what)


def channels_first(img: SegImage) -> np.ndarray:
    """``(C, *spatial)`` float32 copy-free where possible."""
    arr = img.channels_last()
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InputError(f"{img.name}: image values must be real numbers")
    return np.moveaxis(arr, -1, 0).astype(np.float32, copy=False)


def channel_stats(arrays) -> Tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over several ``(C, ...)`` arrays (float64)."""
    c = arrays[0].shape[0]
    s = np.zeros(c)
    s2 = np.zeros(c)
    n = 0
    for a in arrays:
        flat = a.reshape(c, -1).astype(np.float64)
        s += flat.sum(1)
        s2 += (flat ** 2).sum(1)
        n += flat.shape[1]
    mean = s / max(n, 1)
    std = np.sqrt(np.maximum(s2 / max(n, 1) - mean ** 2, 0.0))
    std = np.where(std > 1e-8 * np.maximum(np.abs(mean), 1.0), std, 1.0)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
        raise InputError("the image holds NaN or infinite values; fix or mask them first")
    return mean.astype(np.float32), std.astype(np.float32)


def normalise(x: np.ndarray, mean, std) -> np.ndarray:
    shape = (-1,) + (1,) * (x.ndim - 1)
    return ((x - np.asarray(mean, np.float32).reshape(shape))
            / np.asarray(std, np.float32).reshape(shape)).astype(np.float32, copy=False)


class torch_threads:
    """Context manager: set torch's intra-op threads (``None``: :func:`auto_threads`) and put the
    previous value back afterwards."""

    def __init__(self, n=None) -> None:
        self.n = n

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(int(self.n) if self.n else auto_threads())
        return self

    def __exit__(self, *exc) -> None:
        import torch

        torch.set_num_threads(self.old)
