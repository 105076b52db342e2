"""The fused GPU engine: GrowCut's least fixed point by directional raster passes in Triton.

Same packed keys, same candidate rule and the same fixed point as ``_torch`` and ``_sweep`` (see
``_common``): a neighbour p offers voxel q the key
``(min(D_p + trunc(min(w, W_MAX) * 2**20) + c_o, D_MAX), 1, label_p)`` and q keeps the smaller
key. Only the order of the (monotone, in-place) updates differs, and every such order ends at
the same least fixed point, bit for bit.

Passes
------
A pass runs along one axis in one direction (+z, -z, +y, -y, +x, -x; in 2D only the four in the
image plane). It visits the planes perpendicular to that axis in order; every voxel q of plane k
takes the minimum over its neighbours p in plane ``k - dir`` (9 of them for the 26-neighbourhood,
5 for 18, 1 for 6; 3/1 in 2D), i.e. over the offsets ``o = q - p`` whose component along the
axis is ``dir``. Plane k is relaxed after plane ``k - dir`` has been, so one pass carries a label
along the whole axis (FastGeodis / GeoS style raster scans). Then (``inplane=True``, the
default) the plane is relaxed once more with its neighbours *within* the plane (one Jacobi step,
read back after a barrier), so a pass also carries paths that drift sideways; on the synthetic
benchmark volume this cut the rounds about 2.5x (numpy emulation: 23 -> 9 at 96^3, 33 -> 13 at
192^3) for roughly twice the work per pass. Every offset has a non-zero
component along some axis, so the passes of one round together relax every offset at least once;
a round in which no key changed is therefore a fixed point.

One kernel launch per pass: each program owns a tile of the plane (a bundle of columns along the
pass axis) and walks the planes itself, with a CTA barrier between planes, so its own previous
plane is complete before it is read. At the tile's edge it reads neighbours another program owns,
which may or may not have been relaxed yet in this pass: either value is a valid upper bound, so
the relaxation stays monotone and correct, and the "changed" flag (one ``atomic_max`` per
program and pass, read on the host once per round) decides convergence. Nothing but the keys,
the features (channels first, float32) and the optional mask is touched: no temporaries, and a
neighbour's features are loaded only where its key could still improve ours.

Floating point: the multichannel norm adds the channels' squares in channel order in float32 and
takes the correctly rounded ``sqrt_rn``; the kernels are compiled with ``enable_fp_fusion=False``
so no multiply-add is contracted into an FMA (the sweep, compiled by numba, does not contract
either).

Saturation: where path costs reach ``D_MAX`` and several labels tie there, the in-place ``min``
of this engine and of the torch automaton keeps the minimum over *all* paths of the saturated
key (a label may arrive through a voxel whose own final key is another label's), while the
sweep only extends settled keys; both results are fixed points and differ only in those
saturated voxels' labels. It takes costs above ``2**26`` robust ranges (a distance penalty near
its 1e6 limit with very anisotropic spacing); the tests compare such a case with the automaton.

``TRITON_INTERPRET=1`` runs the same kernels on CPU tensors with Triton's interpreter (slow; used
by the tests on machines without a GPU).
"""

from __future__ import annotations

import os
import time
from typing import Optional

import numpy as np

from ..base.progress import Progress
from ._common import Prepared, decode_labels, quantise_steps

_KERNEL = None
_IMPORT_ERROR: Optional[str] = None


def interpreting() -> bool:
    """True when Triton's interpreter is switched on (kernels run on CPU tensors)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def foreign_llvm(maps: Optional[str] = None) -> Optional[str]:
    """The path of an LLVM shared library already loaded into this process, if any (Linux).

    Triton's ``libtriton`` carries its own LLVM. Loaded after another LLVM build that exports
    the same global symbols (Mesa's OpenGL driver links ``libLLVM-*.so``: napari's canvas
    under llvmpipe, or an Intel/AMD display GPU next to an NVIDIA one), the first-loaded
    symbols win and importing Triton crashes the whole process (segfault; measured here:
    napari viewer under Xvfb, then ``import triton``). Returns None when Triton is already
    imported (it loaded first: no clash) or nothing of the kind is mapped. ``maps``: the text
    of ``/proc/self/maps`` (read when None).
    """
    import sys

    if sys.modules.get("triton") is not None:
        return None
    if maps is None:
        try:
            with open("/proc/self/maps") as fh:
                maps = fh.read()
        except OSError:  # not Linux
            return None
    for line in maps.splitlines():
        parts = line.split(None, 5)  # address perms offset dev inode [path]
        if len(parts) == 6 and os.path.basename(parts[5]).startswith("libLLVM"):
            return parts[5]
    return None


def keep_triton_out() -> Optional[str]:
    """Where a foreign LLVM is loaded (see :func:`foreign_llvm`) and Triton is not imported yet,
    make any later ``import triton`` in this process raise ImportError instead of crashing it.

    Not only our engine imports Triton: ``torch.optim`` imports ``torch._dynamo``, which probes
    for Triton by importing it (measured: training from the napari widget under Mesa's llvmpipe
    died of a segfault there). An ImportError makes those probes fall back to plain PyTorch.
    Returns the foreign LLVM's path when it blocked Triton (or had done so), else None.
    ``SEGSUITE_TRITON=1`` turns this off.
    """
    import sys

    global _BLOCKED
    if os.environ.get("SEGSUITE_TRITON", "") == "1":
        return None
    if "triton" in sys.modules:
        return _BLOCKED if sys.modules["triton"] is None else None
    clash = foreign_llvm()
    if clash:
        _BLOCKED = clash
        sys.modules["triton"] = None  # the import system's "not importable" marker
    return clash


#: the foreign LLVM that made :func:`keep_triton_out` block Triton in this process
_BLOCKED: Optional[str] = None


def triton_available() -> bool:
    """True when ``triton`` imports (it comes with PyTorch's CUDA wheels on Linux) and can be
    imported safely (see :func:`foreign_llvm`; ``SEGSUITE_TRITON=1`` imports it anyway)."""
    global _IMPORT_ERROR
    if _IMPORT_ERROR is not None:
        return False
    clash = keep_triton_out()
    if clash:
        _IMPORT_ERROR = (f"another LLVM ({clash}, e.g. Mesa's OpenGL driver) is loaded in this "
                         "process and importing Triton after it would crash it; import triton "
                         "before napari, or set SEGSUITE_TRITON=1 to try anyway")
        return False
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install
        _IMPORT_ERROR = f"{type(exc).__name__}: {exc}"
        return False
    return True


def kernel():
    """The jitted pass kernel (built on first use, so importing this module needs no triton)."""
    global _KERNEL
    if _KERNEL is None:
        from ._triton_kernel import growcut_pass

        _KERNEL = growcut_pass
    return _KERNEL


def _pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def _tile(n_b: int, n_c: int, contiguous_c: bool):
    """Tile (BB, BC) of a plane and the warp count: enough programs to fill a GPU (each walks
    all planes serially), rows of 32 along a contiguous axis for coalesced loads."""
    if n_b == 1:
        bc = min(_pow2(n_c), 128)
        return 1, bc, max(1, min(4, bc // 32))
    plane = n_b * n_c
    block = 256 if plane >= 1 << 18 else 128 if plane >= 1 << 14 else 64
    bc = min(_pow2(n_c), 32 if contiguous_c else 16)
    bb = max(1, min(_pow2(n_b), block // bc))
    return bb, bc, max(1, min(4, bb * bc // 64))


def _plan(prep: Prepared):
    """The passes: (axis, dir, plane axes, per-offset step costs) for each non-empty one."""
    shape = tuple(prep.shape)
    offs = prep.offsets
    if prep.ndim == 2:
        shape = (1,) + shape
        offs = np.concatenate([np.zeros((len(offs), 1), np.int64), offs], axis=1)
    costs = quantise_steps(prep.step_cost)
    passes = []
    for a in range(3):
        if shape[a] < 2:
            continue
        b, c = [x for x in range(3) if x != a]
        for d in (1, -1):
            table = np.zeros(18, np.int64)  # 0..8: from the previous plane; 9..17: in-plane
            n = 0
            for o, cost in zip(offs.tolist(), costs.tolist()):
                if o[a] == d:
                    table[(o[b] + 1) * 3 + (o[c] + 1)] = cost
                    n += 1
                elif o[a] == 0:
                    table[9 + (o[b] + 1) * 3 + (o[c] + 1)] = cost
            if n:
                passes.append((a, d, b, c, table))
    return shape, passes


def triton_steps(prep: Prepared, keys0: Optional[np.ndarray], device: str = "cuda",
                 max_iter: Optional[int] = None, check_every: int = 1,
                 target_s: float = 0.15, preview_every: int = 2, tile=None,
                 inplane: bool = True):
    """Generator: relax from ``keys0`` (None: from the seeds) by rounds of directional passes
    until a round changes nothing or ``max_iter`` rounds; yields Progress; returns
    ``(keys, rounds, converged)`` like :func:`._torch.automaton_steps` (an "iteration" here is
    one round of 4 (2D) or 6 (3D) passes). ``check_every``: rounds between convergence checks
    (one host sync each). ``tile``: force the plane tile ``(BB, BC)`` (powers of two; tests);
    by default it is chosen per pass to fill the GPU, and under the interpreter (which runs the
    programs one after another) one program covers a whole plane. ``inplane``: after a plane
    took its previous plane's offers, relax it once within the plane too (fewer rounds)."""
    import torch

    from ._common import initial_keys

    kern = kernel()
    if keys0 is None:
        keys0 = initial_keys(prep)
    dev = torch.device(device)
    shape3, passes = _plan(prep)
    n_vox = int(np.prod(shape3))
    strides = (shape3[1] * shape3[2], shape3[2], 1)
    key = torch.from_numpy(np.ascontiguousarray(keys0, dtype=np.int64).reshape(-1)).to(
        dev, copy=True)  # never written through to the caller's array
    nchan = int(prep.feats.shape[-1])
    feats = torch.from_numpy(np.ascontiguousarray(
        np.moveaxis(prep.feats, -1, 0).reshape(nchan, -1))).to(dev)
    has_mask = prep.mask is not None
    if has_mask:
        free = torch.from_numpy((prep.mask | (prep.seeds > 0)).reshape(-1).astype(np.uint8)).to(dev)
    else:
        free = torch.zeros(1, dtype=torch.uint8, device=dev)
    rank = int(np.abs(prep.offsets).sum(axis=1).max())
    flag = torch.zeros(1, dtype=torch.int32, device=dev)
    launches = []
    for a, d, b, c, table in passes:
        if tile is not None:
            bb, bc, warps = min(int(tile[0]), _pow2(shape3[b])), int(tile[1]), 1
        elif interpreting():
            bb, bc, warps = _pow2(shape3[b]), _pow2(shape3[c]), 1
        else:
            bb, bc, warps = _tile(shape3[b], shape3[c], c == 2)
        grid = ((-(-shape3[b] // bb)) * (-(-shape3[c] // bc)),)
        args = (key, feats, free, torch.from_numpy(table).to(dev), flag,
                shape3[a], shape3[b], shape3[c], strides[a], strides[b], strides[c], n_vox)
        meta = dict(DIR=d, C=nchan, RANK=rank, HAS_MASK=has_mask,
                    HAS_COST=bool(np.any(table > 0)), FLAT_B=shape3[b] == 1,
                    INPLANE=bool(inplane), BB=bb, BC=bc,
                    num_warps=warps, num_stages=1, enable_fp_fusion=False)
        # num_stages=1: no software pipelining, so the next plane's loads are never hoisted
        # above this plane's stores (that would stay correct, only carry less per pass)
        launches.append((grid, args, meta))
    cap = int(max_iter) if max_iter is not None else int(np.prod(shape3)) + 1
    check_every = max(1, int(check_every))
    total = cap if max_iter is not None else None
    it = 0
    converged = False
    yields = 0
    t_last = t_preview = time.perf_counter()
    preview_cost = 0.0
    while it < cap:
        for grid, args, meta in launches:
            kern[grid](*args, **meta)
            if time.perf_counter() - t_last >= target_s:  # slow passes (interpreter, huge
                t_last = time.perf_counter()              # volumes): stay cancellable
                yield Progress(it, total, f"round {it + 1}")
        it += 1
        if it % check_every == 0 or it == cap:
            if int(flag.item()) == 0:
                converged = True
                break
            flag.zero_()
            now = time.perf_counter()
            if now - t_last >= target_s * 0.5:
                t_last = now
                yields += 1
                preview = None
                # a preview copies the whole volume back (~0.3 s at 512^3): at most every
                # preview_every yields, and never more than ~20 % of the time
                if preview_every and yields % preview_every == 0 and \
                        now - t_preview >= 5 * preview_cost:
                    preview = decode_labels(key.cpu().numpy().reshape(prep.shape),
                                            prep.out_dtype)
                    t_preview = time.perf_counter()
                    preview_cost = t_preview - now
                yield Progress(it, total, f"round {it}", preview=preview)
    out = key.cpu().numpy().reshape(prep.shape)
    return np.ascontiguousarray(out), it, converged


__all__ = ["triton_steps", "triton_available", "keep_triton_out", "interpreting", "kernel"]
