"""One-file model checkpoints, and TorchScript models of the user's own.

A checkpoint is ``torch.save`` of a plain dict (tensors, numbers, strings, lists, dicts only, so
it loads with ``torch.load(weights_only=True)``: no code runs on load)::

    {"format": "napari-segsuite-model", "format_version": 1,
     "arch": "unet", "dim": 2, "settings": {"depth": 3, "width": 16, ...},
     "in_channels": 2, "n_out": 4, "output": "softmax" | "sigmoid",
     "label_values": [0, 1, 2, 4], "label_names": {"1": "oedema", ...},
     "norm_mean": [...], "norm_std": [...],            # per input channel
     "spacing": [...], "patch": [...], "channel_names": [...],
     "metrics": {"epoch": 12, "val_dice": 0.91, ...}, "state_dict": {...}}

:func:`load_model` reads it back, checks every field and that the weights fit the architecture;
anything wrong (missing, truncated, corrupt, not a checkpoint, a newer format) is a one-line
:class:`InputError`.

TorchScript files (``torch.jit.save``) of your own models load too. Expected I/O: input
``float32 (N, C, Y, X)`` (2D) or ``(N, C, Z, Y, X)`` (3D), each channel already normalised to
zero mean / unit variance over the image (we do that with the image's own statistics when the
file carries none); output logits ``(N, K, same spatial size)``: ``K == 1`` is a binary sigmoid
model, ``K >= 2`` a softmax over labels ``0..K-1``. Optional metadata travels in the archive as an
extra file ``segsuite.json`` (``torch.jit.save(m, f, _extra_files={"segsuite.json": ...})``)
with any of the checkpoint's keys except the weights (``dim``, ``in_channels``, ``label_values``,
``label_names``, ``norm_mean``, ``norm_std``, ``output``).
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from ..base.errors import InputError
from .models import ARCHS, build_model

FORMAT = "napari-segsuite-model"
FORMAT_VERSION = 1
REQUIRED = ("arch", "dim", "settings", "in_channels", "n_out", "output", "label_values",
            "norm_mean", "norm_std", "state_dict")


@dataclass
class Checkpoint:
    """A trained model and everything needed to use it on a new image.

    Attributes
    ----------
    arch, dim, settings, in_channels, n_out
        What :func:`~.models.build_model` needs to rebuild the network.
    output : {"softmax", "sigmoid"}
        The network's output.
    label_values : list of int
        Class index -> the label value written out.
    norm_mean, norm_std : list of float
        Per-channel normalisation of the input.
    state_dict : dict
        The weights.
    scripted : torch.jit.ScriptModule or None
        A user's TorchScript model instead of ``arch``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from napari_segsuite.core.dl.checkpoint import Checkpoint
    >>> from napari_segsuite.core.dl.models import build_model
    >>> _ = torch.manual_seed(0)
    >>> net = build_model("unet", 2, 1, 2, depth=1, width=2)      # tiny, untrained
    >>> ckpt = Checkpoint(arch="unet", dim=2, settings=net.settings, in_channels=1, n_out=2,
    ...                   output="softmax", label_values=[0, 1], norm_mean=[0.0], norm_std=[1.0],
    ...                   state_dict=net.state_dict())
    >>> ckpt.describe(), ckpt.n_classes
    ('unet 2D, 1 channel(s), labels [0, 1]', 2)
    >>> type(ckpt.build()).__name__
    'UNet'
    """

    arch: str
    dim: int
    settings: dict
    in_channels: int
    n_out: int
    output: str                      # "softmax" or "sigmoid"
    label_values: List[int]          # class index -> label value written out
    norm_mean: List[float]
    norm_std: List[float]
    state_dict: Dict[str, Any] = field(default_factory=dict)
    label_names: Dict[str, str] = field(default_factory=dict)
    spacing: Optional[List[float]] = None
    patch: Optional[List[int]] = None
    channel_names: Optional[List[str]] = None
    metrics: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    scripted: Any = None             # a TorchScript module (user's own model), else None

    @property
    def n_classes(self) -> int:
        return len(self.label_values)

    def build(self) -> torch.nn.Module:
        """The network with its weights, in eval mode (on the CPU)."""
        if self.scripted is not None:
            return self.scripted.eval()
        model = build_model(self.arch, self.dim, self.in_channels, self.n_out, **self.settings)
        try:
            model.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as exc:
            first = " ".join(str(exc).split())[:160]
            raise InputError(f"the model's weights do not fit its {self.arch} architecture "
                             f"({first}); the file is damaged or was edited") from None
        return model.eval()

    def to_dict(self) -> dict:
        if self.scripted is not None:
            raise InputError("a TorchScript model is saved with torch.jit.save, not as a "
                             "checkpoint")
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": self.arch,
                "dim": int(self.dim), "settings": _plain(self.settings),
                "in_channels": int(self.in_channels), "n_out": int(self.n_out),
                "output": self.output, "label_values": [int(v) for v in self.label_values],
                "label_names": {str(k): str(v) for k, v in self.label_names.items()},
                "norm_mean": [float(v) for v in self.norm_mean],
                "norm_std": [float(v) for v in self.norm_std],
                "spacing": None if self.spacing is None else [float(v) for v in self.spacing],
                "patch": None if self.patch is None else [int(v) for v in self.patch],
                "channel_names": _plain(self.channel_names), "metrics": _plain(self.metrics),
                "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict.items()}}

    def describe(self) -> str:
        names = ", ".join(f"{v}={self.label_names.get(str(v), '')}".rstrip("=")
                          for v in self.label_values)
        return (f"{self.arch} {self.dim}D, {self.in_channels} channel(s), labels [{names}]"
                + (f", val Dice {self.metrics['val_dice']:.3f}"
                   if isinstance(self.metrics.get("val_dice"), float) else ""))


def check_model_path(path, force: bool = False) -> Path:
    """Validate a model output path before training: .pt/.pth, folder exists, no overwrite
    without ``force``.

    Parameters
    ----------
    path : str or pathlib.Path
        The model file to write.
    force : bool
        Allow overwriting an existing file.

    Returns
    -------
    pathlib.Path
        The path.

    Raises
    ------
    InputError
        On a wrong suffix, a missing or read-only folder, or an existing file without ``force``.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     check_model_path(os.path.join(d, "model.pt")).name
    'model.pt'
    >>> check_model_path("model.txt")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: model.txt: a model file name ends in .pt (or .pth)
    """
    path = Path(path)
    if path.suffix.lower() not in (".pt", ".pth"):
        raise InputError(f"{path}: a model file name ends in .pt (or .pth)")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a model file name such as model.pt")
    if not path.parent.exists():
        raise InputError(f"{path.parent}: folder does not exist")
    if path.exists() and not force:
        raise InputError(f"{path}: already exists; use --force to overwrite it")
    from ..base.atomic import check_folder

    check_folder(path.parent, str(path))  # before any training: a read-only folder fails here
    return path


def _plain(value: Any) -> Any:
    """Numbers, strings, lists and dicts only (numpy scalars/arrays become Python values), so the
    file loads with ``weights_only=True``."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def save_checkpoint(ckpt: Checkpoint, path, force: bool = False) -> Path:
    """Write ``ckpt`` safely (see :mod:`...core.atomic`): a temporary file beside the target,
    flushed and read back, then published (never over an existing file without ``force``).
    A failed write (full disk, ...) is an InputError with one line; nothing is left behind.

    Parameters
    ----------
    ckpt : Checkpoint
        The model.
    path : str or pathlib.Path
        The .pt file to write.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from napari_segsuite.core.dl.checkpoint import Checkpoint
    >>> from napari_segsuite.core.dl.models import build_model
    >>> _ = torch.manual_seed(0)
    >>> net = build_model("unet", 2, 1, 2, depth=1, width=2)      # tiny, untrained
    >>> ckpt = Checkpoint(arch="unet", dim=2, settings=net.settings, in_channels=1, n_out=2,
    ...                   output="softmax", label_values=[0, 1], norm_mean=[0.0], norm_std=[1.0],
    ...                   state_dict=net.state_dict())
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = save_checkpoint(ckpt, os.path.join(d, "model.pt"))
    ...     load_model(path).describe()
    'unet 2D, 1 channel(s), labels [0, 1]'
    """
    from ..base import atomic

    path = check_model_path(path, force)
    data = ckpt.to_dict()
    umask = os.umask(0)
    os.umask(umask)
    with atomic.staged(path) as tmp:
        try:
            torch.save(data, tmp)
            os.chmod(tmp, 0o666 & ~umask)  # as an ordinary file
            atomic.fsync(tmp)
            torch.load(tmp, map_location="cpu", weights_only=True)  # reads back in full
        except (OSError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(f"{path}: cannot write the model ({' '.join(str(exc).split())[:200]}"
                             "; is the disk full?); nothing was written") from None
        try:
            atomic.publish(tmp, path, force)
        except OSError as exc:
            raise InputError(f"{path}: cannot write the model ({exc})") from None
    return path


def checkpoint_from_dict(data: Any, where: str = "model") -> Checkpoint:
    """Validate a loaded dict and turn it into a :class:`Checkpoint` (InputError when wrong).

    Parameters
    ----------
    data : dict
        What :meth:`Checkpoint.to_dict` gives (as read from a file).
    where : str
        Names the source in error messages.

    Returns
    -------
    Checkpoint
        The model (its weights checked against the architecture).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from napari_segsuite.core.dl.checkpoint import Checkpoint
    >>> from napari_segsuite.core.dl.models import build_model
    >>> _ = torch.manual_seed(0)
    >>> net = build_model("unet", 2, 1, 2, depth=1, width=2)      # tiny, untrained
    >>> ckpt = Checkpoint(arch="unet", dim=2, settings=net.settings, in_channels=1, n_out=2,
    ...                   output="softmax", label_values=[0, 1], norm_mean=[0.0], norm_std=[1.0],
    ...                   state_dict=net.state_dict())
    >>> checkpoint_from_dict(ckpt.to_dict()).label_values
    [0, 1]
    >>> checkpoint_from_dict({})  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: model: not a napari-segsuite model checkpoint
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{where}: not a napari-segsuite model checkpoint")
    version = data.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise InputError(f"{where}: the checkpoint has no valid format version")
    if version > FORMAT_VERSION:
        raise InputError(f"{where}: written by a newer napari-segsuite (format {version}); "
                         "update napari-segsuite to use it")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise InputError(f"{where}: incomplete checkpoint, missing {', '.join(missing)}")
    arch, dim = data["arch"], data["dim"]
    if arch not in ARCHS or dim not in (2, 3):
        raise InputError(f"{where}: unknown architecture {arch!r} / dim {dim!r}")
    nc, n_out = int(data["in_channels"]), int(data["n_out"])
    values = [int(v) for v in data["label_values"]]
    if data["output"] not in ("softmax", "sigmoid"):
        raise InputError(f"{where}: unknown output {data['output']!r}")
    expect = 1 if data["output"] == "sigmoid" else len(values)
    if n_out != expect or len(values) < 2 or (data["output"] == "sigmoid" and len(values) != 2):
        raise InputError(f"{where}: {len(values)} label values do not match {n_out} outputs")
    if len(data["norm_mean"]) != nc or len(data["norm_std"]) != nc:
        raise InputError(f"{where}: normalisation has the wrong number of channels")
    if not isinstance(data["state_dict"], dict) or not data["state_dict"]:
        raise InputError(f"{where}: the checkpoint holds no weights")
    ckpt = Checkpoint(arch=arch, dim=int(dim), settings=dict(data["settings"]), in_channels=nc,
                      n_out=n_out, output=data["output"], label_values=values,
                      norm_mean=[float(v) for v in data["norm_mean"]],
                      norm_std=[float(v) for v in data["norm_std"]],
                      state_dict=data["state_dict"],
                      label_names={str(k): str(v) for k, v in
                                   (data.get("label_names") or {}).items()},
                      spacing=data.get("spacing"), patch=data.get("patch"),
                      channel_names=data.get("channel_names"),
                      metrics=dict(data.get("metrics") or {}), format_version=version)
    ckpt.build()  # the weights must fit the architecture
    return ckpt


def load_model(path) -> Checkpoint:
    """Load a checkpoint file (or a TorchScript file) as a :class:`Checkpoint`.

    Raises a one-line :class:`InputError` for a missing, truncated, corrupt or foreign file.

    Parameters
    ----------
    path : str or pathlib.Path
        A checkpoint written by :func:`save_checkpoint`, or a TorchScript file.

    Returns
    -------
    Checkpoint
        The model.

    Examples
    --------
    >>> load_model(bundled_models()["nuclei_2d"]).arch
    'unet'
    >>> load_model("missing.pt")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: missing.pt: model file not found
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: model file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a model file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file, not a model")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not a PyTorch model file (truncated or corrupt?)")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        return _load_torchscript(path, names)
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        msg = " ".join(str(exc).split())[:120]
        raise InputError(f"{path}: cannot read the model file ({type(exc).__name__}: {msg}); "
                         "it is corrupt, truncated or not a napari-segsuite model") from None
    return checkpoint_from_dict(data, where=str(path))


def _load_torchscript(path: Path, names: List[str]) -> Checkpoint:
    extra = {"segsuite.json": ""}
    try:
        with warnings.catch_warnings():
            # torch >= 2.10 deprecates TorchScript in favour of torch.export, but users' .pt
            # files are TorchScript and torch.jit.load still reads them: no warning for them
            warnings.filterwarnings("ignore", r".*torch\.jit.*deprecated", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as exc:  # noqa: BLE001
        msg = " ".join(str(exc).split())[:120]
        raise InputError(f"{path}: cannot load the TorchScript model ({msg})") from None
    meta: dict = {}
    if extra["segsuite.json"]:
        try:
            meta = json.loads(extra["segsuite.json"])
        except (ValueError, TypeError):
            raise InputError(f"{path}: its segsuite.json metadata is not valid JSON") from None
    dim = int(meta.get("dim", 2))
    nc = meta.get("in_channels")
    values = meta.get("label_values")
    output = meta.get("output")
    return Checkpoint(arch="torchscript", dim=dim, settings={},
                      in_channels=int(nc) if nc is not None else 0,
                      n_out=0, output=output or "", label_values=list(values or []),
                      norm_mean=list(meta.get("norm_mean") or []),
                      norm_std=list(meta.get("norm_std") or []),
                      label_names={str(k): str(v) for k, v in
                                   (meta.get("label_names") or {}).items()},
                      spacing=meta.get("spacing"), patch=meta.get("patch"),
                      scripted=module)


def bundled_models() -> Dict[str, Path]:
    """The pretrained tiny models shipped in the package (name -> path).

    Returns
    -------
    dict of str to pathlib.Path
        The models' names and files.

    Examples
    --------
    >>> sorted(bundled_models())
    ['brain_tissue_2d', 'nuclei_2d']
    """
    folder = Path(__file__).resolve().parents[2] / "models"
    return {p.stem: p for p in sorted(folder.glob("*.pt"))} if folder.is_dir() else {}
