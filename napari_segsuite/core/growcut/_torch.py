"""The parallel engine: GrowCut's cellular automaton as tensor shifts in PyTorch (CUDA or CPU).

One iteration visits the neighbour offsets one after another; for each it computes, for every
voxel q at once, the key its neighbour p = q - o would give it (``cost_p + w(p, q)``, p's label,
packed as in ``_common``) and keeps the smaller key in place. Updating in place, offset by
offset (Gauss-Seidel order rather than the textbook's synchronous Jacobi step), is still a
monotone relaxation towards the same least fixed point, and carries a label further per
iteration. So an "iteration" here is one pass over all offsets; it can move a front by several
voxels.

Convergence is checked every ``check_every`` iterations (one comparison with a snapshot, one
host sync), not every iteration. Progress is yielded at those checks.
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from ..base.device import cuda_available  # noqa: F401  (one rule: core.base.device)
from ..base.progress import Progress
from ._common import (D_MAX, FLAG, LABEL_MASK, QUANT, SHIFT, UNREACHED, W_MAX, Prepared,
                      decode_labels, quantise_steps)


def _slices(o, shape):
    q, p = [], []
    for oi, n in zip(o, shape):
        if oi == 1:
            q.append(slice(1, n)), p.append(slice(0, n - 1))
        elif oi == -1:
            q.append(slice(0, n - 1)), p.append(slice(1, n))
        else:
            q.append(slice(None)), p.append(slice(None))
    return tuple(q), tuple(p)


def sqrt_rn(a):
    """Correctly rounded float32 square root of a float32 tensor (``a >= 0``).

    PyTorch's CPU ``sqrt`` is not correctly rounded (measured with torch 2.13 on AVX2/AVX-512:
    about 17 % of float32 results and 1 % of float64 ones are one unit in the last place off),
    while numba's ``np.sqrt`` is. The sweep and the automaton must give the same weights bit for
    bit, so the float64 estimate is rounded to float32 and then corrected exactly: the correctly
    rounded root ``r`` of ``a`` is the float32 whose rounding interval, bounded by the midpoints
    to its neighbours, contains ``sqrt(a)``. A midpoint has at most 25 significant bits, so its
    square is exact in float64, and so is every comparison below.
    """
    import torch

    a64 = a.double()
    s = a64.sqrt().float()
    s64 = s.double()
    lo = torch.nextafter(s, torch.zeros_like(s))
    hi = torch.nextafter(s, torch.full_like(s, float("inf")))
    m_lo = (s64 + lo.double()) * 0.5
    m_hi = (s64 + hi.double()) * 0.5
    out = torch.where(a64 < m_lo * m_lo, lo, s)
    return torch.where(a64 > m_hi * m_hi, hi, out)


def automaton_steps(prep: Prepared, keys0: Optional[np.ndarray], device: str = "cpu",
                    max_iter: Optional[int] = None, check_every: int = 4,
                    target_s: float = 0.15, preview_every: int = 2):
    """Generator: iterate the automaton from ``keys0`` (None: from the seeds) until nothing
    changes or ``max_iter``; yields Progress; returns ``(keys, iterations, converged)``."""
    import torch

    from ._common import initial_keys

    if keys0 is None:
        keys0 = initial_keys(prep)
    dev = torch.device(device)
    shape = prep.shape
    # no autograd here: plain tensors built from numpy (a no_grad/inference_mode block would
    # stay switched on in the caller's thread while this generator is suspended at a yield)
    key = torch.from_numpy(np.ascontiguousarray(keys0)).to(dev)
    feats = torch.from_numpy(prep.feats).to(dev)
    chans = [feats[..., c].contiguous() for c in range(feats.shape[-1])]
    floor = None
    if prep.mask is not None:
        free = prep.mask | (prep.seeds > 0)
        floor = torch.from_numpy(np.where(free, 0, UNREACHED).astype(np.int64)).to(dev)
    stencil = []
    for o, c in zip(prep.offsets.tolist(), quantise_steps(prep.step_cost).tolist()):
        q, p = _slices(o, shape)
        stencil.append((q, p, int(c)))
    cap = int(max_iter) if max_iter is not None else int(np.prod(shape)) + 1
    check_every = max(1, int(check_every))
    it = 0
    converged = False
    yields = 0
    t_last = time.perf_counter()
    snap = key.clone()
    while it < cap:
        for q, p, c in stencil:
            kp = key[p]
            if len(chans) == 1:
                w = (chans[0][p] - chans[0][q]).abs_()
            else:
                w = None
                for ch in chans:
                    diff = ch[p] - ch[q]
                    w = diff * diff if w is None else w.add_(diff * diff)
                w = sqrt_rn(w)
            # float32 * 2**20 is exact, .to(int64) truncates: the same as the numba kernel
            nd = w.clamp_(max=W_MAX).mul_(QUANT).to(torch.int64)
            nd += kp >> SHIFT
            if c > 0:
                nd += c
            nd.clamp_(max=D_MAX)
            cand = (nd << SHIFT).bitwise_or_(FLAG).bitwise_or_(kp & LABEL_MASK)
            if floor is not None:
                cand = torch.maximum(cand, floor[q])
            kq = key[q]
            kq.copy_(torch.minimum(kq, cand))
            if dev.type == "cpu" and time.perf_counter() - t_last >= target_s:
                # a CPU iteration over a large volume takes seconds: stay cancellable
                t_last = time.perf_counter()
                yield Progress(it, cap if max_iter is not None else None,
                               f"iteration {it + 1}")
        it += 1
        if it % check_every == 0 or it == cap:
            same = bool(torch.equal(key, snap))
            if same:
                converged = True
                break
            snap.copy_(key)
            now = time.perf_counter()
            if now - t_last >= target_s * 0.5:
                t_last = now
                yields += 1
                preview = None
                if preview_every and yields % preview_every == 0:
                    preview = decode_labels(key.cpu().numpy(), prep.out_dtype)
                yield Progress(it, cap if max_iter is not None else None,
                               f"iteration {it}", preview=preview)
    out = key.cpu().numpy()
    return np.ascontiguousarray(out), it, converged
