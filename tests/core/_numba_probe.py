"""Run in a fresh process by test_numba_cache.py: ``python _numba_probe.py all|growcut``.

``all``: use every numba kernel of the package (the widgets' warm-ups plus a tiny GrowCut and
its refine), then print one JSON line with, for every numba dispatcher defined at module level
anywhere in the package, numba's cache statistics. ``growcut``: only the tiny GrowCut, its
refine and its kernels.

Every module whose source mentions numba is imported, so a kernel the warm-ups miss shows up
with no compiled signature (and the test says which).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np


def numba_modules():
    import napari_segsuite

    root = Path(napari_segsuite.__file__).parent
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "from numba import" in text or "import numba" in text:
            rel = path.relative_to(root.parent).with_suffix("")
            yield ".".join(rel.parts)


def main(what: str) -> None:
    from napari_segsuite.core.growcut import growcut

    if what == "all":
        from napari_segsuite.core.cluster import warm_up as warm_cluster
        from napari_segsuite.core.growcut import warm_up as warm_growcut
        from napari_segsuite.core.watershed import warm_up as warm_watershed

        warm_growcut()
        warm_watershed()
        warm_cluster()
    rng = np.random.default_rng(1)
    img = rng.random((10, 12, 14)).astype(np.float32)
    seeds = np.zeros(img.shape, np.int32)
    seeds[1, 1, 1], seeds[-2, -2, -2] = 1, 2
    res = growcut(img, seeds, engine="sweep")
    seeds2 = seeds.copy()
    seeds2[5, 6, 7] = 2
    res2 = growcut(img, seeds2, engine="sweep", state=res.state)
    labels = res2.labels

    from numba.core.registry import CPUDispatcher

    out = {}
    names = list(numba_modules()) if what == "all" else ["napari_segsuite.core.growcut._sweep"]
    for name in names:
        mod = importlib.import_module(name)
        disp = {attr: obj for attr, obj in vars(mod).items()
                if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == name}
        for attr, obj in disp.items():
            st = obj.stats
            out[f"{name}.{attr}"] = dict(
                signatures=len(obj.signatures),
                inline=obj.targetoptions.get("inline", "never") == "always",
                # a helper only other kernels call: compiled into them (then no signature of
                # its own when they come from the cache)
                helper=any(attr in other.py_func.__code__.co_names
                           for a, other in disp.items() if a != attr),
                hits=sum(st.cache_hits.values()), misses=sum(st.cache_misses.values()),
                cache_path=st.cache_path)
    print(json.dumps({"kernels": out, "refined": bool(res2.refined),
                      "labels_sum": int(labels.sum()), "labels_n2": int((labels == 2).sum())}))
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
