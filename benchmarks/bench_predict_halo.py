"""U-Net inference block by block (``predict_dask``) against whole-image ``predict`` (the
reference): time, peak memory (RSS of a fresh process), tiles run, and equal labels.

    python benchmarks/bench_predict_halo.py --shape 64,192,192 --chunks 64,64,64 --tile 32

Each measurement runs in its own process (peak RSS is per process). The model is a tiny
untrained 3D U-Net (the halo's cost is the blocks' size and the tiles run, not the model's).
Run it with ``PYTHONPATH`` pointing at another checkout to compare two versions of
``predict_dask`` (issue 16: the halo was ``tile - 1`` voxels on each side of a block).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _ckpt():
    import torch

    from napari_segsuite.core.dl.checkpoint import Checkpoint
    from napari_segsuite.core.dl.models import build_model

    torch.manual_seed(0)
    m = build_model("unet", 3, 1, 2, width=2, depth=1)
    return Checkpoint(arch="unet", dim=3, settings=m.settings, in_channels=1, n_out=2,
                      output="softmax", label_values=[0, 1], norm_mean=[0.0], norm_std=[1.0],
                      state_dict=m.state_dict())


def _image(shape):
    import numpy as np

    rng = np.random.default_rng(0)
    zz, yy, xx = np.ogrid[tuple(slice(0, s) for s in shape)]
    v = np.sin(zz / 7.0) + np.cos(yy / 11.0) * np.sin(xx / 13.0)
    return (v + rng.normal(0, 0.3, shape)).astype(np.float32)


def one(mode, shape, chunks, tile, overlap, out):
    import dask
    import dask.array as da
    import numpy as np

    from napari_segsuite.core.dl import infer

    tiles = [0]
    real = infer._tile_probs

    def counting(net, batch, *a, **k):
        tiles[0] += len(batch)
        return real(net, batch, *a, **k)

    infer._tile_probs = counting
    img = _image(shape)
    ck = _ckpt()
    t0 = time.perf_counter()
    if mode == "whole":
        lab = infer.predict(img, ck, device="cpu", tile=tile, overlap=overlap).labels.array
    else:
        with dask.config.set(scheduler="threads", num_workers=2):
            lazy = infer.predict_dask(da.from_array(img, chunks=chunks), ck, device="cpu",
                                      tile=tile, overlap=overlap, batch=4)
            lab = np.empty(lazy.shape, lazy.dtype)
            da.store(lazy, lab, lock=False)
    dt = time.perf_counter() - t0
    np.save(out, lab)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"mode": mode, "seconds": dt, "peak_rss": rss, "tiles": tiles[0],
                      "image_bytes": img.nbytes}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="64,192,192")
    ap.add_argument("--chunks", default="64,64,64")
    ap.add_argument("--tile", type=int, default=32)
    ap.add_argument("--overlap", type=float, default=0.5)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    shape = tuple(int(v) for v in a.shape.split(","))
    chunks = tuple(int(v) for v in a.chunks.split(","))
    if a.one:
        return one(a.one, shape, chunks, a.tile, a.overlap, a.out)
    import os
    import tempfile

    import numpy as np

    tmp = tempfile.mkdtemp(prefix="bench-halo-")
    res = {}
    for mode in ("whole", "dask"):
        out = os.path.join(tmp, mode + ".npy")
        r = subprocess.run([sys.executable, __file__, "--one", mode, "--shape", a.shape,
                            "--chunks", a.chunks, "--tile", str(a.tile), "--overlap",
                            str(a.overlap), "--out", out], capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"{mode}: failed: {r.stderr.strip().splitlines()[-1:]}")
        res[mode] = json.loads(r.stdout.strip().splitlines()[-1])
        res[mode]["labels"] = np.load(out)
        print(f"{mode:6s} {'x'.join(map(str, shape))} chunks {a.chunks} tile {a.tile} overlap "
              f"{a.overlap}: {res[mode]['seconds']:.1f} s, peak RSS "
              f"{res[mode]['peak_rss'] / 2**20:.0f} MiB, {res[mode]['tiles']} tiles")
    same = np.array_equal(res["whole"]["labels"], res["dask"]["labels"])
    print(f"dask / whole: time x{res['dask']['seconds'] / res['whole']['seconds']:.2f}, tiles "
          f"x{res['dask']['tiles'] / res['whole']['tiles']:.2f}, peak RSS "
          f"x{res['dask']['peak_rss'] / res['whole']['peak_rss']:.2f}; labels equal: {same}")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
