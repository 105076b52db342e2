"""Where GPU work runs: one rule for the CLI's ``--device``, the deep-learning jobs, GrowCut's
engine choice and the widgets (written once, issue 12).

- ``auto``: ``cuda`` when torch sees a CUDA GPU, else ``cpu``. On Linux without the NVIDIA
  kernel driver (no ``/proc/driver/nvidia/version``, ``/dev/nvidiactl`` or WSL2's ``/dev/dxg``)
  the answer is ``cpu`` without importing torch (1-2 s of every command's start-up).
- ``cpu``: the CPU.
- ``cuda`` (or ``cuda:N``): that GPU; where torch sees none (or is not installed) it is an
  :class:`~napari_segsuite.core.base.errors.InputError`.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

from .errors import InputError

DEVICES = ("auto", "cpu", "cuda")


def may_have_cuda() -> bool:
    """False only where CUDA surely is absent: Linux without the NVIDIA kernel driver loaded.
    Elsewhere torch has to be asked (:func:`cuda_available`).

    Returns
    -------
    bool

    Examples
    --------
    >>> isinstance(may_have_cuda(), bool)
    True
    """
    if not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl",
                                           "/dev/dxg"))


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (False without torch; torch is not imported where
    :func:`may_have_cuda` is False).

    Returns
    -------
    bool

    Examples
    --------
    >>> cuda_available() in (True, False)
    True
    """
    if not may_have_cuda():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(name: Optional[str] = "auto") -> str:
    """The device to run on for a user's choice (see the module's rule).

    Parameters
    ----------
    name : str or None
        ``auto`` (also None or ""), ``cpu``, ``cuda`` or ``cuda:N`` (any case).

    Returns
    -------
    str
        ``cpu``, ``cuda`` or ``cuda:N``.

    Raises
    ------
    InputError
        An unknown name, or ``cuda`` where torch sees no CUDA GPU.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("auto") in ("cpu", "cuda")
    True
    """
    name = (name or "auto").strip().lower()
    if name not in DEVICES and not name.startswith("cuda:"):
        raise InputError(f"device must be auto, cpu or cuda, got {name!r}")
    if name == "cpu":
        return "cpu"
    has = cuda_available()
    if name.startswith("cuda") and not has:
        raise InputError(f"device {name}: torch sees no CUDA GPU here; use cpu or auto")
    if name == "auto":
        return "cuda" if has else "cpu"
    return name
