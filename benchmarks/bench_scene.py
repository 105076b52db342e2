"""A large Landsat scene folder: `segsuite cluster` in memory vs lazily, against a plain
rasterio + scikit-learn script, time and peak memory (each run a fresh process under
/usr/bin/time -v).

    python benchmarks/bench_scene.py [--size 3072] [--k 5]

The scene: the LANDSAT sample written as a Collection 2 folder (samples/landsat.write_scene),
its seven SR bands and QA_PIXEL tiled to SIZE x SIZE pixels (same CRS and origin), so the folder
has the real layout and a realistic mix of fill, cloud and land.

Runs (K-means, K, seed 0, QA clouds / shadows / fill left out):
1. ours in memory: `segsuite cluster SCENE -o a.tif --method kmeans --k K`
2. ours lazy:      the same with `--lazy` (dask, 1024^2 chunks, block by block; GeoTIFF written
   chunk by chunk)
3. reference:      a script a user would write: rasterio reads the seven bands into one numpy
   array, KMeans(n_init=4) fitted on 50 000 sampled valid pixels, `predict` on every valid
   pixel, rasterio writes the labels with the band's profile.
Agreement: fraction of valid pixels with the same label after matching the labels (Hungarian).
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REFERENCE = r'''
import sys, numpy as np, rasterio
from sklearn.cluster import KMeans
scene, out, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
from pathlib import Path
files = sorted(Path(scene).glob("*_SR_B[1-7].TIF"))
with rasterio.open(files[0]) as src:
    profile = src.profile
x = np.stack([rasterio.open(f).read(1) for f in files], -1)
qa = rasterio.open(next(Path(scene).glob("*_QA_PIXEL.TIF"))).read(1)
bad = ((qa & 0b11111) != 0) | (x == 0).any(-1)
v = x[~bad].astype(np.float32)
lo, hi = np.percentile(v, [1, 99], axis=0)
v = (v - lo) / (hi - lo)
rng = np.random.default_rng(0)
km = KMeans(k, n_init=4, random_state=0).fit(v[rng.choice(len(v), 50000, replace=False)])
lab = np.zeros(qa.shape, np.uint8)
lab[~bad] = km.predict(v) + 1
profile.update(dtype="uint8", nodata=0, count=1)
with rasterio.open(out, "w", **profile) as dst:
    dst.write(lab, 1)
'''


def make_scene(root: Path, size: int) -> Path:
    import rasterio

    from napari_segsuite.samples.landsat import write_scene

    scene = write_scene(root, seed=0)
    for f in sorted(scene.glob("*.TIF")):
        with rasterio.open(f) as src:
            a, profile = src.read(1), src.profile
        reps = (-(-size // a.shape[0]), -(-size // a.shape[1]))
        big = np.tile(a, reps)[:size, :size]
        profile.update(width=size, height=size, tiled=True, blockxsize=256, blockysize=256,
                       compress="deflate")
        with rasterio.open(f, "w", **profile) as dst:
            dst.write(big, 1)
    return scene


def timed(cmd) -> tuple:
    t = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{res.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1))
    return wall, rss / 1024.0


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.optimize import linear_sum_assignment

    m = (a > 0) & (b > 0)
    ka, kb = int(a.max()), int(b.max())
    c = np.zeros((ka + 1, kb + 1))
    np.add.at(c, (a[m], b[m]), 1)
    r, s = linear_sum_assignment(-c)
    return float(c[r, s].sum() / m.sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=3072)
    p.add_argument("--k", type=int, default=5)
    args = p.parse_args()
    import rasterio

    print(f"# bench_scene: {platform.node()} python {platform.python_version()}, "
          f"scene {args.size}x{args.size} x 7 bands uint16, K={args.k}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scene = make_scene(tmp, args.size)
        runs = {
            "ours, in memory": ["segsuite", "cluster", str(scene), "-o", str(tmp / "a.tif"),
                                "--method", "kmeans", "--k", str(args.k), "--quiet"],
            "ours, --lazy": ["segsuite", "cluster", str(scene), "-o", str(tmp / "b.tif"),
                             "--method", "kmeans", "--k", str(args.k), "--quiet", "--lazy"],
            "rasterio + sklearn script": [sys.executable, "-c", REFERENCE, str(scene),
                                          str(tmp / "c.tif"), str(args.k)],
        }
        out = {}
        for name, cmd in runs.items():
            out[name] = timed(cmd)
        labels = {n: rasterio.open(tmp / f"{c}.tif").read(1) for n, c in
                  zip(runs, "abc")}
        ref_t, ref_m = out["rasterio + sklearn script"]
        print("| run | wall s | peak RSS MiB | time ratio ref/ours | agreement with ref |")
        print("|---|---|---|---|---|")
        for name, (t, m) in out.items():
            agree = agreement(labels[name], labels["rasterio + sklearn script"])
            print(f"| {name} | {t:.1f} | {m:.0f} | {ref_t / t:.2f} | {agree:.3f} |")
        with rasterio.open(tmp / "a.tif") as a, rasterio.open(tmp / "c.tif") as c:
            print(f"# same CRS and transform as the reference output: "
                  f"{a.crs == c.crs and a.transform == c.transform}")


if __name__ == "__main__":
    main()
