"""`segsuite batch` throughput against running the CLI case by case (a shell loop).

Both run the same steps (growcut from the sample's seeds, then metrics against its ground
truth) on N copies of the CT sample (60x160x160, 5x2x2 mm). The loop starts one `segsuite`
process per step and case, as a shell script would; batch starts a LocalCluster of --workers
processes once. Prints wall-clock times and the ratio (loop / batch: > 1 means batch is faster).

    python benchmarks/bench_batch.py [--cases 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def segsuite(*args):
    r = subprocess.run([sys.executable, "-m", "napari_segsuite", *map(str, args)],
                       capture_output=True, text=True)
    if r.returncode not in (0,):
        raise SystemExit(f"segsuite {' '.join(map(str, args))} failed: {r.stderr}")
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    opts = ap.parse_args()
    root = tempfile.mkdtemp(prefix="bench-batch-")
    try:
        segsuite("sample", "ct", "-o", os.path.join(root, "ct"))
        rows = ["id,image,seeds,gt"]
        for i in range(opts.cases):
            rows.append(f"c{i:02d},ct/ct.nii.gz,ct/seeds.nii.gz,ct/labels.nii.gz")
        with open(os.path.join(root, "cases.csv"), "w") as fh:
            fh.write("\n".join(rows) + "\n")
        with open(os.path.join(root, "recipe.json"), "w") as fh:
            json.dump({"table": "cases.csv",
                       "steps": [{"growcut": {}}, {"metrics": {"gt": "gt"}}]}, fh)
        segsuite("growcut", f"{root}/ct/ct.nii.gz", f"{root}/ct/seeds.nii.gz", "-o",
                 f"{root}/warm.nii.gz", "--quiet")  # compile caches warm for both sides

        t0 = time.perf_counter()
        loop = {}
        for i in range(opts.cases):
            out = f"{root}/loop/c{i:02d}"
            os.makedirs(out)
            segsuite("growcut", f"{root}/ct/ct.nii.gz", f"{root}/ct/seeds.nii.gz", "-o",
                     f"{out}/growcut.nii.gz", "--quiet")
            r = segsuite("metrics", f"{out}/growcut.nii.gz", f"{root}/ct/labels.nii.gz",
                         "--json", "--quiet")
            loop[f"c{i:02d}"] = json.loads(r.stdout)
        t_loop = time.perf_counter() - t0

        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "napari_segsuite", "batch",
                        f"{root}/recipe.json", "-o", f"{root}/batch", "--workers",
                        str(opts.workers), "--quiet"], check=True)
        t_batch = time.perf_counter() - t0
        with open(f"{root}/batch/results.csv", newline="") as fh:
            res = {r["id"]: r for r in csv.DictReader(fh)}
        same = all(abs(float(res[c]["1.dice"]) - loop[c]["per_label"]["1"]["dice"]) < 1e-12
                   for c in loop)
        print(f"cases {opts.cases}, CT sample 60x160x160, growcut + metrics per case, "
              f"{os.cpu_count()} cores")
        print(f"CLI loop (a process per step):      {t_loop:7.1f} s")
        print(f"segsuite batch --workers {opts.workers}:         {t_batch:7.1f} s")
        print(f"ratio loop / batch:                  {t_loop / t_batch:7.2f}x   "
              f"(figures identical: {same})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
