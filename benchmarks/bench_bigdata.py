"""Peak memory and time of block-wise jobs on a lazily generated dask volume (issue 16).

K-means (``cluster_dask``: fit on a sample, assignment block by block), block-wise
remove-islands (``core.correct._dask``) and U-Net inference (``core.dl.infer.predict_dask``) on
a Z x Y x X float32 volume of smooth structure plus noise, generated chunk by chunk (never whole
in memory) and stored chunk by chunk into a zarr on disk. Peak memory: the process's maximum
resident set (ru_maxrss) after the job, against the volume's size. Each job runs in its own
process so the peaks do not mix.

The U-Net is a tiny untrained 2D U-Net (width 2, depth 1, 2 classes, fixed seed; run slice by
slice) with 256 x 256 tiles and ``--overlap`` (default 0: one tile per 256 x 256 block; about
1.1 CPU-s per 1024 x 1024 slice, so ~10 min for 1024x1024x512 on two idle cores; the bundled
``nuclei_2d`` model, width 16, with the default 0.5 overlap would take hours there).
``--model nuclei_2d`` runs the bundled one.

    python benchmarks/bench_bigdata.py --shape 512,1024,1024 --job kmeans
    python benchmarks/bench_bigdata.py --shape 512,1024,1024 --job unet
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time


def volume(shape, chunks):
    import dask.array as da
    import numpy as np

    def blob(b, block_info=None):
        loc = block_info[0]["array-location"]
        zz, yy, xx = np.ogrid[tuple(slice(a, b) for a, b in loc)]
        v = np.sin(zz / 17.0) + np.cos(yy / 23.0) * np.sin(xx / 29.0)
        rng = np.random.default_rng(loc[0][0] * 7 + loc[1][0] * 13 + loc[2][0])
        return (v + rng.normal(0, 0.2, v.shape)).astype(np.float32)

    return da.zeros(shape, np.float32, chunks=chunks).map_blocks(blob, dtype=np.float32)


def tiny_unet():
    """A tiny untrained 2D U-Net checkpoint (width 2, depth 1, 2 classes)."""
    import torch

    from napari_segsuite.core.dl.checkpoint import Checkpoint
    from napari_segsuite.core.dl.models import build_model

    torch.manual_seed(0)
    m = build_model("unet", 2, 1, 2, width=2, depth=1)
    return Checkpoint(arch="unet", dim=2, settings=m.settings, in_channels=1, n_out=2,
                      output="softmax", label_values=[0, 1], norm_mean=[0.0], norm_std=[1.0],
                      state_dict=m.state_dict(), patch=[256, 256])


def one(job, shape, chunks, model="tiny", overlap=0.0):
    import dask
    import dask.array as da
    import numpy as np
    import zarr

    vol = volume(shape, chunks)
    out = tempfile.mkdtemp(prefix="bench-bigdata-")
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=2):
        if job == "kmeans":
            from napari_segsuite.core.cluster import cluster_dask

            lab = cluster_dask(vol, 3, "kmeans")
            target = zarr.open_array(out + "/k.zarr", mode="w", shape=shape, chunks=chunks,
                                     dtype=lab.dtype)
            da.store(lab, target, lock=False)
        elif job == "unet":
            from napari_segsuite.core.dl.infer import predict_dask

            ckpt = tiny_unet() if model == "tiny" else model
            lab = predict_dask(vol, ckpt, device="cpu", tile=256, overlap=overlap)
            target = zarr.open_array(out + "/u.zarr", mode="w", shape=shape, chunks=chunks,
                                     dtype=lab.dtype)
            da.store(lab, target, lock=False)
        else:
            from napari_segsuite.core.correct._dask import remove_islands_dask, store

            lab = (vol > 0.8).astype(np.uint8)
            res = remove_islands_dask(lab, 50)
            target = zarr.open_array(out + "/r.zarr", mode="w", shape=shape, chunks=chunks,
                                     dtype=np.uint8)
            store(res, target)
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    print(json.dumps({"job": job, "seconds": dt, "peak_rss": rss, "volume_bytes": vol.nbytes}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="512,1024,1024", help="Z,Y,X")
    ap.add_argument("--chunks", default="64,256,256")
    ap.add_argument("--job", choices=("kmeans", "islands", "unet", "all"), default="all")
    ap.add_argument("--model", default="tiny", help="unet: tiny (default) or a model name/file")
    ap.add_argument("--overlap", type=float, default=0.0, help="unet: tile overlap")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    shape = tuple(int(v) for v in a.shape.split(","))
    chunks = tuple(int(v) for v in a.chunks.split(","))
    if a.one:
        return one(a.job, shape, chunks, a.model, a.overlap)
    for job in (("kmeans", "islands", "unet") if a.job == "all" else (a.job,)):
        r = subprocess.run([sys.executable, __file__, "--one", "--job", job, "--shape", a.shape,
                            "--chunks", a.chunks, "--model", a.model, "--overlap",
                            str(a.overlap)], capture_output=True, text=True)
        if r.returncode:
            print(f"{job}: failed: {r.stderr.strip().splitlines()[-1:]}")
            continue
        d = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"{job:8s} {'x'.join(map(str, shape))} float32 ({d['volume_bytes'] / 2**30:.2f} GiB,"
              f" chunks {a.chunks}): {d['seconds']:.1f} s, peak RSS "
              f"{d['peak_rss'] / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
