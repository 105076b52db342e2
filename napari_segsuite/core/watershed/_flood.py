"""Marker-controlled watershed flood (priority flood) compiled with numba, resumable in chunks.

Same result as :func:`skimage.segmentation.watershed` (0.26) for float images, written from its
documented rules:

- every marker voxel (inside the mask) enters a priority queue with its image value and age 0,
  in raveled (C) order; every later push gets the next age (1, 2, ...), so equal values leave
  the queue first in, first out;
- a popped voxel pushes its unlabelled neighbours inside the mask (neighbourhood of
  ``connectivity``: 1 = faces ... ndim = full, visited nearest first, then in C order), each
  with priority ``max(its value, the popped priority)``: a front never descends below the level
  it reached, so markers with the same claim share a basin by age;
- plain mode: a voxel takes its label when it is pushed (it is pushed once);
- ``watershed_line``: labels are given when a voxel is popped; a voxel whose (non-masked)
  neighbours already carry another label becomes a line voxel (label 0, masked out) but still
  passes the flood on, once. (scikit-image 0.26 passes it on again from every stale queue copy
  of a line voxel; the copies can multiply without bound along lines: MemoryError in many 3D
  full-connectivity cases. Where it finishes the labels were identical in 128 of 130 random
  float cases (the other two differ in 9 and 31 of 2000 pixels); on quantised images with
  touching box markers 72 of 100 were identical, the others differ in 2 to 75 of 2000-7000
  voxels, along the lines.)
- ``compactness`` > 0 (compact watershed, Neubert & Protzel 2014): the priority adds
  ``compactness x Euclidean distance to the voxel's marker``; a voxel can be pushed by several
  fronts and is labelled when first popped. scikit-image ignores ``watershed_line`` in compact
  mode and so do we.

Ties between entries of exactly the same priority and age (only markers: all have age 0) leave
a binary heap in an order that depends on the heap's history, so the queue here is a binary
heap with exactly the same sift rules as scikit-image's (strict comparisons, hole sifting).
What makes it faster: flat arrays instead of an array of pointers to 32-byte items, and in the
non-compact modes one packed 64-bit key per entry: the 32-bit order-preserving code of the
float32 value in the high half, the age in the low half (a single integer comparison); the
label and voxel index share a second 64-bit word (the bucket store below keeps the index
alone). Once no two markers share a key left in the
queue (from the start for markers of distinct values), all keys are distinct and any exact
priority queue gives the same order. In plain mode the binary heap is kept only while a tie
left could change a label: :func:`_tie_order_matters` proves, for each group of markers of one
value, that no two of them can push entries of the same level (then their order only permutes
blocks of ages that are never compared); on float images (h-minima of a gradient, whose
markers are single voxels whose neighbours are higher) this held for every group measured, and
there is then no exact phase. Past the exact phase the flood switches to a 4-ary heap plus a
FIFO for
entries clamped to the current level (watershed lines), or (plain mode) to a bucket queue over
value ranges with a small cache-resident heap for the current bucket. What remains is memory
bound: the pop order jumps across the volume, each pop reads its neighbours' labels and values. Images are padded by one voxel, so neighbours
need no bounds checks; the padding and the voxels outside the mask are one sentinel label.

Memory (plain mode, the default): int32 padded labels, uint32 padded value codes (coded in
place from the float32 values), and the bucket store of int32 voxel indices, one per voxel at
most, in its own memory map of small pages that the system fills as buckets receive entries and
takes back as buckets are loaded (:func:`_lazy_store`): 8 bytes per voxel plus about 4 per
voxel of the front, plus the queue's front in the exact phase (heap and FIFO start small and
grow on demand) and the int32 result at the end (when the codes and the store are gone). The caller may hand
its only references to the markers and the image over (``watershed_steps`` does with the
gradient and the h-minima markers): the flood drops the markers once the padded labels exist,
before the codes are made, and the image once the codes exist, before the queue is allocated.
Watershed lines add nothing but a larger front; compact mode holds float64 padded values
instead of the codes.

Compactness distance: scikit-image measures it in voxels; :func:`flood_steps` takes an optional
``spacing`` (physical units per axis) and then measures it physically. With no spacing (or a
spacing of all ones) the result is scikit-image's exactly.

Resumable: the kernels pop at most ``max_pops`` voxels and return; the whole state (heap, ages,
labels) lives in arrays :func:`flood_steps` holds, so it yields a Progress event between chunks
(about every 0.05 s of work, a chunk at most twice the last) and Cancel (closing the generator)
stops within a chunk. The inputs are
never modified.

Not handled here (falls back to one uninterruptible scikit-image call): images with NaN, more
than 2^31 voxels, or (watershed lines / compactness) more than 2^32 possible pushes.
"""

from __future__ import annotations

import time
from typing import Optional, Sequence

import numpy as np
from numba import njit

from ..base.errors import InputError
from ..base.neighbours import offsets
from ..base.progress import Progress, in_background

#: label code of masked-out voxels (outside the mask, the padding, watershed-line voxels);
#: a marker voxel masked out by the line rule keeps its label as ``-label``
_OUT = np.int32(np.iinfo(np.int32).min)
_LOW32 = np.int64(0xFFFFFFFF)

# kernel status codes
_DONE, _PAUSED, _FULL, _SWITCH = 0, 1, 2, 3


# -- binary heap on packed uint64 keys with an int64 payload -----------------------------------
# The sift rules are scikit-image's (heap_general.pxi): push sifts up while strictly smaller than
# the parent; pop moves the last entry to the root and sifts it down, preferring the left child,
# taking the right one only when strictly smaller. Moving a hole instead of swapping gives the
# same arrangement.
@njit(cache=True, inline="always")
def _push_packed(hkey, hpay, size, key, pay):
    child = size
    while child > 0:
        parent = (child - 1) >> 1
        if key < hkey[parent]:
            hkey[child] = hkey[parent]
            hpay[child] = hpay[parent]
            child = parent
        else:
            break
    hkey[child] = key
    hpay[child] = pay
    return size + 1


@njit(cache=True, inline="always")
def _pop_packed(hkey, hpay, size):
    """Remove the root (the caller has read it); returns the new size."""
    size -= 1
    if size == 0:
        return size
    key = hkey[size]
    pay = hpay[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        best = i
        bkey = key
        if hkey[left] < bkey:
            best = left
            bkey = hkey[left]
        right = left + 1
        if right < size and hkey[right] < bkey:
            best = right
        if best == i:
            break
        hkey[i] = hkey[best]
        hpay[i] = hpay[best]
        i = best
    hkey[i] = key
    hpay[i] = pay
    return size


# (The 4-ary heap below repeats the binary heap's hole-moving sift with four children: two
# specialised copies on purpose, so that numba inlines each into its own flood loop with a
# constant arity; the binary one must keep scikit-image's exact tie order, the 4-ary one is
# only used where ties cannot change the labels.)
# -- 4-ary heap for the fast phase (same key / payload layout) ------------------------------
@njit(cache=True, inline="always")
def _push4(hkey, hpay, size, key, pay):
    child = size
    while child > 0:
        parent = (child - 1) >> 2
        if key < hkey[parent]:
            hkey[child] = hkey[parent]
            hpay[child] = hpay[parent]
            child = parent
        else:
            break
    hkey[child] = key
    hpay[child] = pay
    return size + 1


@njit(cache=True, inline="always")
def _sift_down4(hkey, hpay, size, i, key, pay):
    """Place (key, pay) at hole ``i`` and sift it down a 4-ary heap of ``size`` entries."""
    while True:
        first = 4 * i + 1
        if first >= size:
            break
        best = first
        bkey = hkey[first]
        last = min(first + 4, size)
        for c in range(first + 1, last):
            if hkey[c] < bkey:
                best = c
                bkey = hkey[c]
        if bkey < key:
            hkey[i] = bkey
            hpay[i] = hpay[best]
            i = best
        else:
            break
    hkey[i] = key
    hpay[i] = pay


@njit(cache=True, nogil=True)
def _heapify4(hkey, hpay, size):
    """Rearrange a binary heap (any array) into a 4-ary heap, bottom-up, O(size)."""
    for i in range((size - 2) // 4, -1, -1):
        _sift_down4(hkey, hpay, size, i, hkey[i], hpay[i])


@njit(cache=True, inline="always")
def _fifo_room(fkey, fpay, head, tail, nnb):
    """(head, tail) after moving the FIFO's live part to the front when ``nnb`` more entries
    would not fit after it."""
    if tail + nnb > fkey.size and head > 0:
        fkey[:tail - head] = fkey[head:tail]
        fpay[:tail - head] = fpay[head:tail]
        tail -= head
        head = 0
    return head, tail


@njit(cache=True)
def _flood_packed(vkey, offsets, out, hkey, hpay, fkey, fpay, state, wsl, dup_key, max_pops,
                  switch):
    """Plain or watershed-line flood, at most ``max_pops`` pops.

    vkey: uint32 order-preserving code of each padded voxel's value.
    out: int32 padded labels: > 0 labelled, 0 to flood, ``_OUT`` masked out, ``-l`` a marker
        masked out by the line rule.
    hkey / hpay: the heap; key = value code << 32 | age, payload = label << 32 | voxel index
        (the label is only used with watershed lines: in plain mode a voxel is labelled when
        pushed, so its label is read from ``out``).
    fkey / fpay: a FIFO for the fast phase.
    state: int64 [heap size, last age, pops so far, phase, FIFO head, FIFO tail, -, heap size
        needed]; updated on return. The heap and the FIFO start small and grow on demand: on
        status 2 state[7] is the heap capacity the next pop needs (0: the FIFO is full).
    dup_key: phase 0 (the exact binary heap) lasts while the smallest key is <= dup_key.

    Two phases. Phase 0: a binary heap with scikit-image's sift rules, needed while two markers
    have the same key (same value, age 0): their order then depends on the heap's history.
    Once the smallest key exceeds the largest duplicated marker key, all keys are distinct and
    any exact priority queue pops them in the same order; phase 1 then uses a 4-ary heap
    (shallower, 4 children in one cache line) plus a FIFO for the entries pushed at the
    current level (value <= level: clamped to it), which arrive in increasing age, i.e.
    already sorted; they never touch the heap.

    switch: return 3 at the end of phase 0 instead of going on (plain mode: the caller
    continues with :func:`_flood_buckets`).

    Returns 0 (done), 1 (paused after max_pops), 2 (heap or FIFO too small for the next pop)
    or 3 (switch).
    """
    size = state[0]
    age = state[1]
    phase = state[3]
    head = state[4]
    tail = state[5]
    nnb = offsets.size
    cap = hkey.size
    fcap = fkey.size
    pops = 0
    status = _DONE
    out_code = np.int32(-2147483648)
    while size > 0 or head < tail:
        if pops >= max_pops:
            status = _PAUSED
            break
        if phase == 0 and hkey[0] > dup_key:
            if switch:  # the caller continues with the bucket queue (_flood_buckets)
                status = _SWITCH
                break
            _heapify4(hkey, hpay, size)
            phase = 1
        if head == tail:
            head = 0
            tail = 0
        if size - 1 + nnb > cap:
            status = _FULL
            state[7] = size + nnb
            break
        head, tail = _fifo_room(fkey, fpay, head, tail, nnb)
        if tail + nnb > fcap:
            status = _FULL
            state[7] = 0
            break
        # pop the smallest entry (of the heap and the FIFO in phase 1)
        if phase == 0:
            key = hkey[0]
            pay = hpay[0]
            size = _pop_packed(hkey, hpay, size)
        elif head < tail and (size == 0 or fkey[head] < hkey[0]):
            key = fkey[head]
            pay = fpay[head]
            head += 1
        else:
            key = hkey[0]
            pay = hpay[0]
            size -= 1
            if size > 0:
                _sift_down4(hkey, hpay, size, 0, hkey[size], hpay[size])
        pops += 1
        idx = pay & 0xFFFFFFFF
        level = key >> np.uint64(32)
        if wsl:
            lab = np.int32(pay >> 32)
            o = out[idx]
            is_marker = (key & np.uint64(0xFFFFFFFF)) == 0
            if o != 0 and not is_marker:
                # a copy of a voxel already decided (labelled or a line voxel). scikit-image
                # 0.26 lets copies of line voxels pass the flood on again, each time, which
                # can multiply the copies without bound along lines (a MemoryError in 3D
                # with full connectivity); here a voxel passes the flood on once
                continue
            if o == 0 or o > 0:  # (o < 0: a marker masked out already: no second check)
                line = False
                for k in range(nnb):
                    on = out[idx + offsets[k]]
                    if on > 0 and on != lab:
                        line = True
                        break
                if line:
                    out[idx] = -o if o > 0 else out_code
                else:
                    out[idx] = lab
        else:
            lab = out[idx]
        for k in range(nnb):
            n = idx + offsets[k]
            if out[n] != 0:
                continue  # labelled or masked out
            age += 1
            v = np.uint64(vkey[n])
            if not wsl:
                out[n] = lab
            npay = (np.int64(lab) << 32) | n
            if v <= level:
                nkey = (level << np.uint64(32)) | np.uint64(age)
                if phase == 0:
                    size = _push_packed(hkey, hpay, size, nkey, npay)
                else:
                    fkey[tail] = nkey
                    fpay[tail] = npay
                    tail += 1
            else:
                nkey = (v << np.uint64(32)) | np.uint64(age)
                if phase == 0:
                    size = _push_packed(hkey, hpay, size, nkey, npay)
                else:
                    size = _push4(hkey, hpay, size, nkey, npay)
    state[0] = size
    state[1] = age
    state[2] += pops
    state[3] = phase
    state[4] = head
    state[5] = tail
    return status


# -- plain mode, phase 1: a bucket queue over value ranges -----------------------------------
# Keys are distinct and popped in increasing order. The value codes are cut into B ranges
# ("buckets", about 512 voxels each, monotone in value): an entry for a later bucket is only
# appended to that bucket's slice of a flat store (no ordering work); the current bucket's
# entries live in a small 4-ary heap that stays in cache; entries at or below the current level
# go to the FIFO. In plain mode a voxel is pushed once, into its own value's bucket (an entry
# for a later bucket is never clamped), so each bucket's slice is sized by a histogram.
# The store holds voxel indices alone (4 bytes a voxel): an entry's value code is the voxel's
# own, and its age only orders it after the entries pushed before it. A bucket's slice is in
# age order (appended in push order; the hand-over below sorts), and when the bucket becomes
# the current one the heap and the FIFO are empty and every later push is younger: so the
# entries get fresh ages, in slice order, when they are loaded, and the pops keep their order.
@njit(cache=True, nogil=True)
def _code_range(vkey, out):
    """(smallest, largest) value code of the voxels the flood can reach or starts from."""
    lo = np.uint64(0xFFFFFFFF)
    hi = np.uint64(0)
    for i in range(out.size):
        if out[i] >= 0:  # floodable voxels and markers
            v = np.uint64(vkey[i])
            if v < lo:
                lo = v
            if v > hi:
                hi = v
    if lo > hi:
        lo = hi
    return lo, hi


@njit(cache=True, nogil=True)
def _code_hist(vkey, out, cmin, shift, hist):
    for i in range(out.size):
        if out[i] >= 0:  # floodable voxels and markers
            hist[(np.uint64(vkey[i]) - cmin) >> shift] += 1


@njit(cache=True, nogil=True)
def _bucket_fill(hkey, hpay, size, ptab, cmin, shift, bfill, spay, state):
    """Hand the (phase 0) heap's entries, sorted by key, over: the current bucket's (the
    smallest key's) stay in the heap, now 4-ary, the others go to the store in key order.
    (Entries clamped to the level carry the smallest key's value: they stay in the heap, so
    the store only gets voxels of their own value's bucket, which the histogram counted.)"""
    cur = np.int64(ptab[((hkey[0] >> np.uint64(32)) - cmin) >> shift]) if size > 0 else -1
    w = 0
    for j in range(size):
        key = hkey[j]
        pay = hpay[j]
        b = ptab[((key >> np.uint64(32)) - cmin) >> shift]
        if b == cur:
            hkey[w] = key  # w <= j: compacting in place
            hpay[w] = pay
            w += 1
        else:
            spay[bfill[b]] = pay & 0xFFFFFFFF
            bfill[b] += 1
    _heapify4(hkey, hpay, w)
    state[0] = w
    state[6] = cur


@njit(cache=True)
def _flood_buckets(vkey, offsets, out, hkey, hpay, fkey, fpay, spay, bstart, bfill,
                   ptab, cmin, shift, state, max_pops):
    """Plain flood, phase 1, at most ``max_pops`` pops. state: [small-heap size, age, pops,
    -, FIFO head, FIFO tail, current bucket, heap size needed]. Returns 0 (done), 1 (paused)
    or 2 (heap or FIFO too small: state[7] is the heap capacity needed, 0 for the FIFO)."""
    size = state[0]
    age = state[1]
    head = state[4]
    tail = state[5]
    cur = state[6]
    nb = bfill.size
    nnb = offsets.size
    cap = hkey.size
    fcap = fkey.size
    pops = 0
    status = _DONE
    while True:
        if pops >= max_pops:
            status = _PAUSED
            break
        if head == tail:
            head = 0
            tail = 0
            if size == 0:  # next non-empty bucket into the small heap
                nxt = cur + 1
                while nxt < nb and bfill[nxt] == bstart[nxt]:
                    nxt += 1
                if nxt >= nb:
                    break
                if bfill[nxt] - bstart[nxt] + nnb > cap:
                    status = _FULL
                    state[7] = bfill[nxt] - bstart[nxt] + nnb
                    break
                cur = nxt
                for j in range(bstart[cur], bfill[cur]):
                    n = spay[j]
                    age += 1  # fresh ages in slice order (see above)
                    hkey[size] = (np.uint64(vkey[n]) << np.uint64(32)) | np.uint64(age)
                    hpay[size] = n
                    size += 1
                bfill[cur] = bstart[cur]
                _heapify4(hkey, hpay, size)
        if size + nnb > cap:
            status = _FULL
            state[7] = size + nnb
            break
        head, tail = _fifo_room(fkey, fpay, head, tail, nnb)
        if tail + nnb > fcap:
            status = _FULL
            state[7] = 0
            break
        if head < tail and (size == 0 or fkey[head] < hkey[0]):
            key = fkey[head]
            pay = fpay[head]
            head += 1
        else:
            key = hkey[0]
            pay = hpay[0]
            size -= 1
            if size > 0:
                _sift_down4(hkey, hpay, size, 0, hkey[size], hpay[size])
        pops += 1
        idx = pay & 0xFFFFFFFF
        level = key >> np.uint64(32)
        lab = out[idx]
        for k in range(nnb):
            n = idx + offsets[k]
            if out[n] != 0:
                continue
            age += 1
            out[n] = lab
            v = np.uint64(vkey[n])
            if v <= level:
                fkey[tail] = (level << np.uint64(32)) | np.uint64(age)
                fpay[tail] = n
                tail += 1
            else:
                nkey = (v << np.uint64(32)) | np.uint64(age)
                b = ptab[(v - cmin) >> shift]
                if b == cur:
                    size = _push4(hkey, hpay, size, nkey, n)
                else:
                    spay[bfill[b]] = n
                    bfill[b] += 1
    state[0] = size
    state[1] = age
    state[2] += pops
    state[4] = head
    state[5] = tail
    state[6] = cur
    return status


#: the smallest bucket store given its own memory map (entries)
_LAZY_MIN = 1 << 16

#: floodable voxels per bucket (a slice of 16 kB of the store: pages of a slice are only
#: touched as it fills, see :func:`_lazy_store`)
PER_BUCKET = 4096


def _lazy_store(n: int) -> np.ndarray:
    """An int32 array of ``n`` entries in its own anonymous memory map, in small pages: the
    system gives it memory page by page as it is written, and :func:`_release_store` hands
    back the pages of the buckets already loaded; the store's resident part is then about the
    front, not the volume. (numpy's own arrays of this size ask for 2 MB pages: one entry
    written would make 2 MB resident.)"""
    import mmap

    if n < _LAZY_MIN:
        return np.empty(n, dtype=np.int32)
    buf = mmap.mmap(-1, 4 * n)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        try:
            buf.madvise(mmap.MADV_NOHUGEPAGE)
        except OSError:
            pass
    return np.frombuffer(buf, dtype=np.int32)


def _release_store(spay: np.ndarray, end: int, done: int) -> int:
    """Hand back the whole pages of ``spay[done:end]`` (entries no longer read) to the
    system; returns the new ``done`` (the entries before it are released)."""
    import mmap

    buf = spay.base
    buf = getattr(buf, "obj", buf)  # np.frombuffer's base: a memoryview of the map
    if not isinstance(buf, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED"):
        return end
    page = mmap.PAGESIZE
    lo = (4 * done) // page * page
    hi = (4 * end) // page * page
    if hi > lo:
        try:
            buf.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        except OSError:
            pass
        return hi // 4
    return done


def _bucket_table(vkey: np.ndarray, flat: np.ndarray, per_bucket: int = 0):
    """(ptab, cmin, shift, counts): bucket of a value code = ptab[(code - cmin) >> shift],
    monotone in the code, about ``per_bucket`` floodable voxels per bucket; counts: the
    floodable voxels (and markers) of each bucket. No array of the volume's size."""
    cmin, cmax = (int(v) for v in _code_range(vkey, flat))
    # at most 2^20 prefixes, about 16 voxels per prefix in a smaller volume (the tables cost
    # 28 bytes a prefix)
    bits = min(20, max(8, flat.size.bit_length() - 4))
    shift = max(0, (cmax - cmin).bit_length() - bits)
    hist = np.zeros(((cmax - cmin) >> shift) + 1, dtype=np.int64)
    _code_hist(vkey, flat, np.uint64(cmin), np.uint64(shift), hist)
    before = np.cumsum(hist)  # the voxels before each prefix, in place (2^20 prefixes at
    before -= hist             # most: each temporary table is 8 MB)
    before //= per_bucket or PER_BUCKET
    ptab = before.astype(np.int32)  # monotone; a prefix never splits
    del before
    counts = np.zeros(int(ptab[-1]) + 1, dtype=np.int64)
    np.add.at(counts, ptab, hist)
    return ptab, np.uint64(cmin), np.uint64(shift), counts


# -- compact mode: float64 priority + age, payload = source marker << 32 | voxel index ---------
@njit(cache=True, inline="always")
def _less2(v1, a1, v2, a2):
    if v1 != v2:
        return v1 < v2
    return a1 < a2


@njit(cache=True, inline="always")
def _push2(hval, hage, hpay, size, val, age, pay):
    child = size
    while child > 0:
        parent = (child - 1) >> 1
        if _less2(val, age, hval[parent], hage[parent]):
            hval[child] = hval[parent]
            hage[child] = hage[parent]
            hpay[child] = hpay[parent]
            child = parent
        else:
            break
    hval[child] = val
    hage[child] = age
    hpay[child] = pay
    return size + 1


@njit(cache=True, inline="always")
def _pop2(hval, hage, hpay, size):
    size -= 1
    if size == 0:
        return size
    val = hval[size]
    age = hage[size]
    pay = hpay[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        best = i
        bv = val
        ba = age
        if _less2(hval[left], hage[left], bv, ba):
            best = left
            bv = hval[left]
            ba = hage[left]
        right = left + 1
        if right < size and _less2(hval[right], hage[right], bv, ba):
            best = right
        if best == i:
            break
        hval[i] = hval[best]
        hage[i] = hage[best]
        hpay[i] = hpay[best]
        i = best
    hval[i] = val
    hage[i] = age
    hpay[i] = pay
    return size


@njit(cache=True)
def _flood_compact(img, offsets, strides, spacing, compactness, out, hval, hage, hpay, state,
                   max_pops):
    """Compact watershed, at most ``max_pops`` pops (arguments as :func:`_flood_packed`;
    img: float64 padded values, strides / spacing: per axis, for the distance term)."""
    size = state[0]
    age = state[1]
    nnb = offsets.size
    nd = strides.size
    cap = hval.size
    pops = 0
    status = _DONE
    while size > 0:
        if pops >= max_pops:
            status = _PAUSED
            break
        if size - 1 + nnb > cap:
            status = _FULL
            state[7] = size + nnb
            break
        val = hval[0]
        pay = hpay[0]
        size = _pop2(hval, hage, hpay, size)
        pops += 1
        idx = pay & 0xFFFFFFFF
        src = pay >> 32
        if out[idx] != 0 and idx != src:
            continue  # reached earlier by a cheaper front
        lab = out[src]
        out[idx] = lab
        for k in range(nnb):
            n = idx + offsets[k]
            if out[n] != 0:
                continue
            age += 1
            # Euclidean distance from the marker voxel, in the same float operations as
            # scikit-image (its raveled-index arithmetic gives the same integer differences)
            d2 = 0.0
            a = n
            b = src
            for ax in range(nd):
                s = strides[ax]
                c = np.float64((a // s) - (b // s)) * spacing[ax]
                d2 += c * c
                a = a % s
                b = b % s
            v = img[n]
            v += compactness * np.sqrt(d2)
            if v < val:
                v = val
            size = _push2(hval, hage, hpay, size, v, age, (src << 32) | n)
    state[0] = size
    state[1] = age
    state[2] += pops
    return status


# -- Python side -------------------------------------------------------------------------------
def neighbour_offsets(shape: Sequence[int], connectivity: int) -> np.ndarray:
    """Raveled offsets of the neighbours in a C-ordered array of ``shape``, in scikit-image's
    visiting order: nearest first, ties in C order of the 3^ndim footprint."""
    nd = len(shape)
    steps = offsets(nd, connectivity)                      # C order (rank 1..ndim)
    dist2 = (steps ** 2).sum(1)
    steps = steps[np.argsort(dist2, kind="stable")]
    strides = np.cumprod((tuple(shape[1:]) + (1,))[::-1])[::-1]
    return (steps @ np.asarray(strides, dtype=np.int64)).astype(np.int64)


def _value_codes(image: np.ndarray, pad: int = 0) -> np.ndarray:
    """uint32 codes with the same order (and ties) as the image's float64 values, of the image
    padded by ``pad`` voxels on every side (the padding's code is arbitrary). A float32 image is
    coded in place in the result: no temporary of the image's size."""
    x = np.asarray(image)
    inner = (slice(pad, x.shape[ax] + pad) for ax in range(x.ndim))
    codes = np.zeros(tuple(n + 2 * pad for n in x.shape), dtype=np.uint32)
    if x.dtype != np.float32:
        x64 = np.asarray(x, dtype=np.float64)
        x32 = x64.astype(np.float32)
        if not np.array_equal(x32.astype(np.float64), x64):
            # values float32 cannot hold: their ranks (same order, same ties)
            codes[tuple(inner)] = np.unique(x64, return_inverse=True)[1].reshape(x.shape)
            return codes
        x = x32
        del x64, x32
    codes[tuple(inner)] = np.ascontiguousarray(x).view(np.uint32)
    _order_codes(codes.reshape(-1))
    return codes


@njit(cache=True, nogil=True)
def _order_codes(bits):
    """float32 bit patterns -> codes in IEEE order, in place: -0.0 as +0.0 (they compare
    equal); negatives get all bits flipped, positives the sign bit set."""
    for i in range(bits.size):
        b = bits[i]
        if b == np.uint32(0x80000000):
            b = np.uint32(0)
        if b >> np.uint32(31):
            bits[i] = ~b
        else:
            bits[i] = b | np.uint32(0x80000000)


def _fallback_needed(image: np.ndarray, n_nb: int, pushes_once: bool) -> Optional[str]:
    padded = int(np.prod(np.array(image.shape, dtype=np.int64) + 2))
    if padded >= 2 ** 31 - 1:
        return "more than 2^31 voxels"
    if not pushes_once and padded * (n_nb + 1) >= 2 ** 32 - 1:
        return "more than 2^32 possible pushes"
    if np.issubdtype(image.dtype, np.floating) and np.isnan(image).any():
        return "NaN in the image"
    return None


def flood_steps(image: np.ndarray, markers: np.ndarray, mask: Optional[np.ndarray] = None, *,
                connectivity: int = 1, compactness: float = 0.0, watershed_line: bool = False,
                spacing: Optional[Sequence[float]] = None, progress=(0.0, 1.0, 1.0),
                message: str = "flooding", chunk_seconds: float = 0.05):
    """Job: watershed flood of ``image`` from ``markers`` -> int32 labels (a new array).

    Semantics of :func:`skimage.segmentation.watershed` (see the module docstring).
    ``spacing``: physical size of a voxel per axis for the compactness distance (None: voxels,
    as scikit-image). ``progress = (start, stop, total)``: the Progress events go from
    ``start`` to ``stop`` out of ``total`` (to sit inside a longer job's numbering). Yields about
    every ``chunk_seconds`` of work; nothing is modified when the generator is closed.
    """
    img = np.asarray(image)
    mk = np.asarray(markers)
    if mk.shape != img.shape:
        raise InputError(f"markers shape {mk.shape} differs from the image shape {img.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != img.shape:
            raise InputError(f"mask shape {mask.shape} differs from the image shape {img.shape}")
    nd = img.ndim
    compactness = float(compactness or 0.0)
    compact = compactness > 0
    wsl = bool(watershed_line) and not compact  # scikit-image ignores lines in compact mode
    start, stop, total = (float(v) for v in progress)
    offsets_probe = neighbour_offsets((3,) * nd, connectivity)
    why = _fallback_needed(img, offsets_probe.size, pushes_once=not (compact or wsl))
    if why is not None or (mk.size and (mk.min() < np.iinfo(np.int32).min
                                        or mk.max() > np.iinfo(np.int32).max)):
        from skimage.segmentation import watershed

        if spacing is not None and compact and any(float(s) != 1.0 for s in spacing):
            raise InputError(f"cannot flood this image in chunks ({why}) and scikit-image's "
                             "compactness has no spacing")
        yield Progress(start, total, f"{message} (one scikit-image call: {why})")
        lab = yield from in_background(watershed, img, mk, mask=mask, compactness=compactness,
                                       watershed_line=watershed_line,
                                       connectivity=connectivity, done=start, total=total,
                                       message=message)
        yield Progress(stop, total, message)
        return lab.astype(np.int32, copy=False)

    # the padded labels first, then the markers are let go; the value codes next, then the
    # image is let go (a caller that hands over its only references, as watershed_steps does
    # with the gradient and the markers it found, frees each before the next array of the
    # volume's size is allocated: the flood then holds about 12 bytes per voxel plus the front)
    _trim_heap()  # what earlier steps (the h-minima sweep's smaller arrays) freed
    st = yield from in_background(_setup, mk, mask, nd, connectivity, compact, spacing,
                                  done=start, total=total, message=message)
    del markers, mk, mask
    st = yield from in_background(_setup_values, st, img, compact, done=start, total=total,
                                  message=message)
    del image, img
    st = yield from in_background(_setup_queue, st, wsl, done=start, total=total,
                                  message=message)
    out, inner, flat, offsets, n_work, state = (st[k] for k in (
        "out", "inner", "flat", "offsets", "n_work", "state"))
    fimg, hval, hage, hpay, sp, strides = (st[k] for k in (
        "fimg", "hval", "hage", "hpay", "sp", "strides"))
    vkey, hkey, fkey, fpay, buckets, dup_key = (st[k] for k in (
        "vkey", "hkey", "fkey", "fpay", "buckets", "dup_key"))
    del st
    _trim_heap()  # the setup's temporaries (tables, seeds), before the flood's long run
    released = 0  # the store's entries handed back to the system (plain mode)
    nnb = offsets.size
    max_pops = 1 << 12  # then grown from the measured rate, at most twice per chunk
    yield Progress(start, total, message)
    t_yield = time.perf_counter()
    while True:
        if time.perf_counter() - t_yield > chunk_seconds:  # after queue growth (no pops
            # counted) or a switch: a yield at least every chunk
            yield Progress(start + (stop - start) * min(1.0, float(state[2]) / max(n_work, 1)),
                           total, message)
            t_yield = time.perf_counter()
        t = time.perf_counter()
        if compact:
            status = _flood_compact(fimg, offsets, strides, sp, compactness, flat, hval, hage,
                                    hpay, state, max_pops)
        elif buckets is not None:
            status = _flood_buckets(vkey, offsets, flat, hkey, hpay, fkey, fpay, *buckets,
                                    state, max_pops)
        else:
            status = _flood_packed(vkey, offsets, flat, hkey, hpay, fkey, fpay, state, wsl,
                                   dup_key, max_pops, not wsl)
        dt = time.perf_counter() - t
        if status == _DONE:
            break
        if status == _SWITCH:
            buckets = yield from in_background(_start_buckets, vkey, flat, hkey, hpay, state,
                                               total=total,
                                               done=start + (stop - start) * min(
                                                   1.0, float(state[2]) / max(n_work, 1)),
                                               message=message)
            # the heap now holds the current bucket only: give back what held the front
            cap = max(_FIRST_CAP, 2 * int(state[0]) + nnb)
            if cap < hkey.size:
                hkey, hpay = hkey[:cap].copy(), hpay[:cap].copy()
                _trim_heap()
            continue
        if status == _FULL:  # the heap or the FIFO grows (they hold the front, not the volume)
            need = int(state[7])
            if compact:
                if need > hval.size:
                    hval, hage, hpay = (_grown(a, need) for a in (hval, hage, hpay))
            elif need > hkey.size:
                hkey, hpay = _grown(hkey, need), _grown(hpay, need)
            elif int(state[5] - state[4]) + nnb > fkey.size:
                fkey, fpay = _grown(fkey, 0), _grown(fpay, 0)
            continue
        if buckets is not None:  # the store's slices up to the current bucket's are read
            bstart = buckets[1]
            released = _release_store(buckets[0], int(bstart[min(int(state[6]) + 1,
                                                                 bstart.size - 1)]), released)
            del bstart
        # aim at chunk_seconds per chunk (the pop rate varies with the front's size)
        rate = max_pops / max(dt, 1e-6)
        # (at most twice the last chunk: the rate can drop at once, e.g. where the store's
        # pages are first written, and a chunk must stay well under a second)
        max_pops = int(min(max(rate * chunk_seconds, 1 << 12), 2 * max_pops, 1 << 26))
        frac = min(1.0, float(state[2]) / max(n_work, 1))
        yield Progress(start + (stop - start) * frac, total, message)
        t_yield = time.perf_counter()
    del vkey, hkey, hpay, fkey, fpay, buckets, fimg, hval, hage, flat
    res = yield from in_background(_finish, out, inner, done=stop, total=total, message=message)
    yield Progress(stop, total, message)
    return res


def _grown(a: np.ndarray, need: int) -> np.ndarray:
    """``a`` copied into an array of at least ``need`` and 1.5 times its size (the old and the
    new array are alive together for a moment: 2.5 times the old one, not 3)."""
    new = np.empty(max(a.size + a.size // 2, need, 1024), dtype=a.dtype)
    new[:a.size] = a
    return new


@njit(cache=True, nogil=True)
def _unmask_lines(flat):
    """In place: line voxels and masked-out voxels -> 0; markers masked by the line rule get
    their label back."""
    for i in range(flat.size):
        v = flat[i]
        if v < 0:
            flat[i] = 0 if v == -2147483648 else -v


def _finish(out, inner):
    _unmask_lines(out.reshape(-1))
    return np.ascontiguousarray(out[inner])


def _trim_heap() -> None:
    """Return freed memory to the system (glibc's ``malloc_trim``; nothing elsewhere): arrays
    under glibc's mmap threshold (32 MB at most) freed by an earlier step otherwise stay in
    the process's resident set."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


#: the first size of the queue's arrays (they grow on demand)
_FIRST_CAP = 1 << 12


def _setup(mk, mask, nd, connectivity, compact, spacing):
    """The flood's padded labels: one long step without yields, run off the job's thread
    (:func:`..progress.in_background`) so Cancel answers."""
    if mk.size and mk.min() < 0:
        raise InputError("markers must not be negative (0 = unlabelled)")
    # padded labels: markers inside the mask; the padding and the outside of the mask masked out
    out = np.zeros(tuple(n + 2 for n in mk.shape), dtype=np.int32)
    inner = (slice(1, -1),) * nd
    out[inner] = mk
    if mask is not None:
        out[inner][~mask] = _OUT
    for ax in range(nd):  # the padding
        for end in (0, -1):
            face = [slice(None)] * nd
            face[ax] = end
            out[tuple(face)] = _OUT
    flat = out.reshape(-1)
    sp = strides = None
    if compact:
        sp = np.ones(nd) if spacing is None else np.asarray(spacing, dtype=np.float64)
        if sp.shape != (nd,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
            raise InputError(f"spacing must be {nd} positive numbers, got {spacing}")
        strides = np.asarray(out.strides, dtype=np.int64) // out.itemsize
    return dict(out=out, inner=inner, flat=flat, offsets=neighbour_offsets(out.shape, connectivity),
                sp=sp, strides=strides)


def _setup_values(st, img, compact):
    """The padded values (compact mode: float64) or value codes, added to ``st``."""
    fimg = vkey = None
    if compact:
        fimg = np.zeros(tuple(n + 2 for n in img.shape))  # padded with 0, as np.pad
        fimg[(slice(1, -1),) * img.ndim] = img  # no float64 copy beside the padded one
        fimg = fimg.reshape(-1)
    else:
        vkey = _value_codes(img, pad=1).reshape(-1)
    st.update(fimg=fimg, vkey=vkey)
    return st


def _setup_queue(st, wsl):
    """The seeded queue (heap, FIFO; the bucket queue in plain mode), added to ``st``."""
    flat, vkey, nnb = st["flat"], st["vkey"], st["offsets"].size
    n_seeds, n_free = _count_seeds(flat)  # no boolean temporaries of the volume's size
    seeds = _seed_indices(flat, n_seeds)  # skimage's marker order: raveled, C
    n_work = n_free + seeds.size  # pops in plain mode
    # the queue holds the front: it starts small and grows on demand
    cap = max(_FIRST_CAP, 2 * seeds.size + nnb)
    hval = hage = hpay = hkey = fkey = fpay = buckets = None
    dup_key = np.uint64(0)
    state = np.zeros(8, dtype=np.int64)
    if st["fimg"] is not None:
        hval = np.empty(cap, dtype=np.float64)
        hage = np.empty(cap, dtype=np.int64)
        hpay = np.empty(cap, dtype=np.int64)
        _seed_compact(hval, hage, hpay, st["fimg"], seeds, state)
    else:
        # payloads: label << 32 | voxel index with watershed lines; plain mode reads the label
        # from ``out``, so the voxel index alone (int32: the kernels' int64 payloads keep their
        # low half) makes the queue's entries 12 bytes instead of 16
        pay = np.int64 if wsl else np.int32
        hkey = np.empty(cap, dtype=np.uint64)
        hpay = np.empty(cap, dtype=pay)
        fkey = np.empty(_FIRST_CAP, dtype=np.uint64)
        fpay = np.empty(_FIRST_CAP, dtype=pay)
        _seed_packed(hkey, hpay, vkey, flat, seeds, state)
        # the exact binary heap is needed while two markers share a key (see _flood_packed);
        # in plain mode only while a tie left could change a label (_tie_order_matters)
        skeys = vkey[seeds]
        order = np.argsort(skeys, kind="stable")
        if wsl:
            mkeys = skeys[order]
            dups = mkeys[1:][mkeys[1:] == mkeys[:-1]]
            top = int(dups[-1]) if dups.size else -1
        else:
            top = int(_tie_order_matters(vkey, flat, seeds[order], skeys[order], st["offsets"]))
        del skeys, order
        if top >= 0:
            dup_key = np.uint64(top << 32)
        else:
            dup_key = np.uint64(0)
            if wsl:
                state[3] = 1  # no ties: the fast phase from the start
                _heapify4(hkey, hpay, int(state[0]))
        if not wsl and state[3] == 0 and top < 0:
            buckets = _start_buckets(vkey, flat, hkey, hpay, state)
    state[1] = 1  # the first push gets age 2, as in scikit-image (only the order matters)
    st.update(n_work=n_work, state=state, hval=hval, hage=hage, hpay=hpay, hkey=hkey,
              fkey=fkey, fpay=fpay, buckets=buckets, dup_key=dup_key)
    return st


@njit(cache=True, nogil=True)
def _tie_order_matters(vkey, out, seeds, skeys, offsets):
    """The largest value code shared by markers whose order of leaving the queue could change
    a label in plain mode, or -1 when no tie can (seeds: the marker voxels sorted by their
    codes ``skeys``).

    Markers of one value leave the queue one after the other (everything pushed meanwhile is
    younger). Marker ``a`` pushes some of its floodable neighbours ``c`` (not markers, not masked
    out), at level ``max(code(c), code(a))``, with a block of consecutive ages; the markers'
    order only permutes these blocks. When no two markers of the group could push entries of
    the same level (a common neighbour included: it would have the same level from both), an
    entry of one block and one of another never compare by age, so every later comparison, and
    the whole rest of the flood, is the same in any order: the labels are. Checked on all
    floodable neighbours (a superset of the ones pushed). Groups are checked from the largest
    code down; the first that fails ends the search."""
    nnb = offsets.size
    end = skeys.size
    while end > 1:
        start = end - 1
        while start > 0 and skeys[start - 1] == skeys[end - 1]:
            start -= 1
        m = end - start
        if m > 1:
            v = np.uint64(skeys[start])
            if m * nnb > (1 << 23):  # a large plateau of markers: not worth the memory
                return np.int64(v)
            lv = np.empty(m * nnb, dtype=np.uint64)
            w = 0
            for j in range(m):
                s = seeds[start + j]
                for k in range(nnb):
                    c = s + offsets[k]
                    if out[c] == 0:
                        lev = max(np.uint64(vkey[c]), v)
                        lv[w] = (lev << np.uint64(32)) | np.uint64(j)
                        w += 1
            lv = np.sort(lv[:w])
            for i in range(1, w):
                if (lv[i] >> np.uint64(32)) == (lv[i - 1] >> np.uint64(32)) and \
                        (lv[i] & np.uint64(0xFFFFFFFF)) != (lv[i - 1] & np.uint64(0xFFFFFFFF)):
                    return np.int64(v)
        end = start
    return np.int64(-1)


@njit(cache=True, nogil=True)
def _count_seeds(flat):
    """(markers, voxels to flood) in the padded labels."""
    ns = 0
    nf = 0
    for i in range(flat.size):
        if flat[i] > 0:
            ns += 1
        elif flat[i] == 0:
            nf += 1
    return ns, nf


@njit(cache=True, nogil=True)
def _seed_indices(flat, n):
    """The int64 flat indices of the markers, in C order."""
    seeds = np.empty(n, dtype=np.int64)
    j = 0
    for i in range(flat.size):
        if flat[i] > 0:
            seeds[j] = i
            j += 1
    return seeds


def _start_buckets(vkey, flat, hkey, hpay, state):
    """Set up the bucket queue (plain mode, phase 1) from the heap's current entries."""
    ptab, cmin, shift, counts = _bucket_table(vkey, flat)
    bstart = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=bstart[1:])
    bfill = bstart[:-1].copy()
    spay = _lazy_store(int(bstart[-1]))  # voxel indices only (< 2^31)
    size = int(state[0])
    # the store's slices must be in key order (see above): the heap sorted in place (its keys
    # are distinct by now), no argsort and copies of a front that can hold half the volume
    _sort_heap(hkey, hpay, size)
    _bucket_fill(hkey, hpay, size, ptab, cmin, shift, bfill, spay, state)
    return spay, bstart, bfill, ptab, cmin, shift


@njit(cache=True, nogil=True)
def _sort_heap(hkey, hpay, size):
    """The entries of a binary min-heap (``_push_packed`` / ``_pop_packed``) in increasing key
    order, in place (heapsort: each root moved behind the shrinking heap, then reversed)."""
    for end in range(size - 1, 0, -1):
        key = hkey[0]
        pay = hpay[0]
        _pop_packed(hkey, hpay, end + 1)  # the heap now fills [0, end)
        hkey[end] = key
        hpay[end] = pay
    i, j = 0, size - 1
    while i < j:
        hkey[i], hkey[j] = hkey[j], hkey[i]
        hpay[i], hpay[j] = hpay[j], hpay[i]
        i += 1
        j -= 1


@njit(cache=True, nogil=True)
def _seed_packed(hkey, hpay, vkey, out, seeds, state):
    # markers: age 0, pushed in C order through the heap's own rule (their ties then leave the
    # heap in scikit-image's order)
    size = 0
    for i in range(seeds.size):
        s = seeds[i]
        size = _push_packed(hkey, hpay, size, np.uint64(vkey[s]) << np.uint64(32),
                            (np.int64(out[s]) << 32) | s)
    state[0] = size


@njit(cache=True, nogil=True)
def _seed_compact(hval, hage, hpay, img, seeds, state):
    size = 0
    for i in range(seeds.size):
        s = seeds[i]
        size = _push2(hval, hage, hpay, size, img[s], np.int64(0), (s << 32) | s)
    state[0] = size


def flood(image, markers, mask=None, **kwargs) -> np.ndarray:
    """Plain wrapper of :func:`flood_steps`."""
    from ..base.progress import run

    return run(flood_steps(image, markers, mask, **kwargs))
