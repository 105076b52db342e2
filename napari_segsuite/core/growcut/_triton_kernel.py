"""The Triton kernel of the fused GPU engine (see ``_triton`` for the design).

Imported only when the Triton engine runs: importing it imports ``triton``. Constants are
module-level ``tl.constexpr`` globals, as Triton (compiler and interpreter) requires.
"""

import triton
import triton.language as tl

from ._common import D_MAX, FLAG, LABEL_MASK, QUANT, SHIFT, UNREACHED, W_MAX

K_SHIFT = tl.constexpr(SHIFT)
K_FLAG = tl.constexpr(FLAG)
K_LMASK = tl.constexpr(LABEL_MASK)
K_DMAX = tl.constexpr(D_MAX)
K_UNREACHED = tl.constexpr(UNREACHED)
K_WMAX = tl.constexpr(W_MAX)
K_QUANT = tl.constexpr(QUANT)

@triton.jit
def _offer(key_ptr, feat_ptr, cost_ptr, p, q, v, best, n_vox, cidx,
           C: tl.constexpr, HAS_COST: tl.constexpr):
    """``min(best, key(p) (+) w(p, q))`` where ``v`` (p exists and q may change)."""
    kp = tl.load(key_ptr + p, mask=v, other=K_UNREACHED)
    dp = kp >> K_SHIFT
    lab = kp & K_LMASK
    # a candidate is never below (D_p, 1, label_p): skip the rest where that cannot beat what q
    # has (no feature traffic for settled voxels)
    v = v & (((dp << K_SHIFT) | K_FLAG | lab) < best)
    fp = tl.load(feat_ptr + p, mask=v, other=0.0)
    fq = tl.load(feat_ptr + q, mask=v, other=0.0)
    if C == 1:
        w = tl.abs(fp - fq)
    else:
        # float32 sum of squares in channel order, then the correctly rounded root (no FMA:
        # the kernels are compiled with enable_fp_fusion=False)
        diff = fp - fq
        acc = diff * diff
        pc_ = p
        qc_ = q
        for ch in tl.static_range(1, C):
            pc_ = pc_ + n_vox  # int64 offsets: C * n_vox may pass 2**31
            qc_ = qc_ + n_vox
            fp = tl.load(feat_ptr + pc_, mask=v, other=0.0)
            fq = tl.load(feat_ptr + qc_, mask=v, other=0.0)
            diff = fp - fq
            acc = acc + diff * diff
        w = tl.sqrt_rn(acc)
    # float32 * 2**20 is exact; the conversion truncates, as in numba and torch
    nd = dp + (tl.minimum(w, K_WMAX) * K_QUANT).to(tl.int64)
    if HAS_COST:
        nd = nd + tl.load(cost_ptr + cidx)
    nd = tl.minimum(nd, K_DMAX)
    cand = (nd << K_SHIFT) | K_FLAG | lab
    return tl.where(v & (cand < best), cand, best)


@triton.jit
def growcut_pass(key_ptr, feat_ptr, free_ptr, cost_ptr, flag_ptr,
                 n_a, n_b, n_c, s_a, s_b, s_c, n_vox,
                 DIR: tl.constexpr, C: tl.constexpr, RANK: tl.constexpr,
                 HAS_MASK: tl.constexpr, HAS_COST: tl.constexpr, FLAT_B: tl.constexpr,
                 INPLANE: tl.constexpr, BB: tl.constexpr, BC: tl.constexpr):
    """One directional pass: this program's tile of columns, plane after plane.

    Plane k takes the best offer of its neighbours in plane ``k - DIR`` (cost table entries
    0..8, index ``(du + 1) * 3 + dv + 1``); with ``INPLANE`` it then takes, once, the best
    offer of its neighbours within plane k (entries 9..17), a Jacobi step that lets one pass
    carry paths that also wander sideways."""
    pid = tl.program_id(0)
    n_tc = tl.cdiv(n_c, BC)
    tb = pid // n_tc
    tc = pid % n_tc
    ob = (tb * BB + tl.arange(0, BB))[:, None].to(tl.int64)
    oc = (tc * BC + tl.arange(0, BC))[None, :].to(tl.int64)
    inb = (ob < n_b) & (oc < n_c)
    plane_off = ob * s_b + oc * s_c
    chg = tl.zeros([BB, BC], dtype=tl.int32)
    for i in range(1, n_a):
        if DIR > 0:
            k = i
        else:
            k = n_a - 1 - i
        kprev = k - DIR
        base = k.to(tl.int64) * s_a
        q = base + plane_off
        kq = tl.load(key_ptr + q, mask=inb, other=0)
        act = inb & (kq > K_FLAG)  # seeds (flag 0, cost 0) never change
        if HAS_MASK:
            act = act & (tl.load(free_ptr + q, mask=inb, other=0) != 0)
        best = kq
        prev_base = kprev.to(tl.int64) * s_a
        for du in tl.static_range(-1, 2):
            for dv in tl.static_range(-1, 2):
                if (1 + du * du + dv * dv <= RANK) and ((not FLAT_B) or du == 0):
                    pb = ob - du
                    pc = oc - dv
                    v = act & (pb >= 0) & (pb < n_b) & (pc >= 0) & (pc < n_c)
                    best = _offer(key_ptr, feat_ptr, cost_ptr, prev_base + pb * s_b + pc * s_c,
                                  q, v, best, n_vox, (du + 1) * 3 + (dv + 1), C, HAS_COST)
        improved = best < kq
        tl.store(key_ptr + q, best, mask=improved)
        if INPLANE:
            tl.debug_barrier()  # the plane's first update is written before neighbours read it
            kmid = best
            for du in tl.static_range(-1, 2):
                for dv in tl.static_range(-1, 2):
                    if ((du != 0) or (dv != 0)) and (du * du + dv * dv <= RANK) and \
                            ((not FLAT_B) or du == 0):
                        pb = ob - du
                        pc = oc - dv
                        v = act & (pb >= 0) & (pb < n_b) & (pc >= 0) & (pc < n_c)
                        best = _offer(key_ptr, feat_ptr, cost_ptr, base + pb * s_b + pc * s_c,
                                      q, v, best, n_vox, 9 + (du + 1) * 3 + (dv + 1), C,
                                      HAS_COST)
            tl.store(key_ptr + q, best, mask=best < kmid)
            improved = best < kq
        chg = chg | improved.to(tl.int32)
        tl.debug_barrier()  # this plane is written before the next reads it
    tl.atomic_max(flag_ptr, tl.max(tl.max(chg, axis=1), axis=0))
