"""Cost of one undoable Correct step on a 256^3 labels layer (no viewer): writing a result that
changes N voxels through widgets._edits.apply_undoable (napari's Labels.data_setitem in one
history step) against assigning a full copy of the layer (layer.data = new), and the memory the
undo step holds.

    python benchmarks/bench_correct_undo.py [SIZE]
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main(size: int = 256) -> int:
    import napari

    from napari_segsuite.widgets._edits import apply_undoable

    rng = np.random.default_rng(0)
    base = np.zeros((size,) * 3, np.uint16)
    base[size // 4: 3 * size // 4, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    for frac in (0.001, 0.01, 0.05):
        n = int(frac * base.size)
        new = base.copy()
        flat = rng.choice(base.size, n, replace=False)
        new.ravel()[flat] = 2
        layer = napari.layers.Labels(base.copy())
        t = time.perf_counter()
        apply_undoable(layer, new)
        t_undoable = time.perf_counter() - t
        (atom,) = layer._undo_history[-1]
        held = sum(a.nbytes for a in atom[0]) + atom[1].nbytes + np.asarray(atom[2]).nbytes
        t = time.perf_counter()
        layer.undo()
        t_undo = time.perf_counter() - t
        assert np.array_equal(layer.data, base)
        layer2 = napari.layers.Labels(base.copy())
        t = time.perf_counter()
        layer2.data = new.copy()
        t_copy = time.perf_counter() - t
        print(f"{size}^3 uint16, {frac:.1%} changed ({n} voxels): apply_undoable {t_undoable:.3f} s, "
              f"undo {t_undo:.3f} s, step holds {held / 2**20:.1f} MiB "
              f"(layer {base.nbytes / 2**20:.0f} MiB); replacing layer.data {t_copy:.3f} s "
              f"(ratio {t_undoable / t_copy:.2f}x, not undoable)")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 256))
