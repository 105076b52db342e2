"""Deep-learning speed: inference throughput (voxels/s, tiled, Gaussian blending) and seconds per
training epoch, for U-Net / SegNet / FCN-8s 2D and U-Net 3D, on the CPU (and CUDA when present).

    python benchmarks/bench_dl.py [--repeats 3] [--quick]

Sizes (stated in the output): 2D inference on a 70 x 200 x 230 stack (a 2D model slice by slice),
3D inference on a 64 x 128 x 128 volume; a training epoch = the default number of batches for
70 slices of 200 x 230 (2D: patch 128, batch 8) or one 64 x 128 x 128 volume (3D: patch 48,
batch 2), width 16 (default): the time of a batch (sampling, augmentation, forward, backward,
Adam; min over repeats of the mean over --steps batches) times the default number of batches per
epoch. The "30 epochs" column extrapolates that to the issue's target (a small 2D U-Net on ~70
slices of 200 x 230 for 30 epochs); validation adds about 10 %.
Timings: min over repeats (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _ckpt(arch, dim, width=16, nc=1, k=3):
    import torch

    from napari_segsuite.core.dl.checkpoint import Checkpoint
    from napari_segsuite.core.dl.models import build_model

    torch.manual_seed(0)
    m = build_model(arch, dim, nc, k, width=width)
    return Checkpoint(arch=arch, dim=dim, settings=m.settings, in_channels=nc, n_out=k,
                      output="softmax", label_values=list(range(k)), norm_mean=[0.0] * nc,
                      norm_std=[1.0] * nc, state_dict=m.state_dict(),
                      patch=[128] * dim if dim == 2 else [48] * 3)


def bench_infer(arch, dim, shape, device, repeats):
    from napari_segsuite.core.dl.infer import predict

    ck = _ckpt(arch, dim)
    img = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    best = np.inf
    tile = None
    for _ in range(repeats):
        t = time.perf_counter()
        r = predict(img, ck, device=device)
        best = min(best, time.perf_counter() - t)
        tile = r.tile
    return img.size / best, best, tile


def bench_epoch(arch, dim, device, repeats, n_steps):
    """Seconds per training batch (patch sampling + augmentation + forward/backward + Adam),
    and the default number of batches per epoch for the stated data size."""
    import math

    import torch

    from napari_segsuite.core.dl.models import build_model
    from napari_segsuite.core.dl.train import TrainConfig, _Data, _loss_fn, _Sampler

    rng = np.random.default_rng(0)
    shape = (70, 200, 230) if dim == 2 else (64, 128, 128)
    lab = np.zeros(shape, np.uint8)
    lab[:, 40:90, 50:120] = 1
    lab[:, 120:170, 100:180] = 2
    img = (lab + rng.normal(0, 0.5, shape)).astype(np.float32)
    cfg = TrainConfig(arch=arch, dim=dim, skip_empty_slices=False)
    data = _Data([img], [lab], cfg)
    patch = (128, 128) if dim == 2 else (48, 48, 48)
    batch = 8 if dim == 2 else 2
    sampler = _Sampler(data.samples, patch, 0.33, True, rng)
    voxels = sum(y.size for _, y in data.samples)
    steps = min(max(math.ceil(voxels / np.prod(patch) / batch), 10), 50)
    torch.manual_seed(0)
    model = build_model(arch, dim, 1, 3).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = _loss_fn("auto", False)
    from napari_segsuite.core.dl._common import torch_threads

    best = np.inf
    for _ in range(repeats):
        with torch_threads():  # as train_steps does
            t = time.perf_counter()
            _steps(model, opt, loss_fn, sampler, batch, device, n_steps)
        best = min(best, (time.perf_counter() - t) / n_steps)
    return best, steps


def _steps(model, opt, loss_fn, sampler, batch, device, n_steps):
    import torch

    for _ in range(n_steps):
        xb, yb = sampler.batch(batch)
        xt, yt = torch.from_numpy(xb).to(device), torch.from_numpy(yb).to(device)
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
    if device == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one repeat")
    ap.add_argument("--steps", type=int, default=3, help="batches timed per repeat (3)")
    args = ap.parse_args()
    import torch

    from napari_segsuite.core.dl._common import auto_threads

    reps = 1 if args.quick else args.repeats
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"# bench_dl  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"auto (idle cores, now {auto_threads()}), load {os.getloadavg()[0]:.1f}, "
          f"torch {torch.__version__}")
    print("| device | model | inference size | tile | voxels/s | inference s | "
          "s/batch x batches = s/epoch | 30 epochs (min) |")
    print("|---|---|---|---|---|---|---|---|")
    cases = [("unet", 2, (70, 200, 230)), ("segnet", 2, (70, 200, 230)),
             ("fcn", 2, (70, 200, 230)), ("unet", 3, (64, 128, 128))]
    for dev in devices:
        for arch, dim, shape in cases:
            vps, secs, tile = bench_infer(arch, dim, shape, dev, reps)
            per_batch, steps = bench_epoch(arch, dim, dev, reps, args.steps)
            ep = per_batch * steps
            print(f"| {dev} | {arch} {dim}D | {'x'.join(map(str, shape))} | "
                  f"{'x'.join(map(str, tile))} | {vps:,.0f} | {secs:.2f} | {per_batch:.2f} x "
                  f"{steps} = {ep:.0f} | {30 * ep / 60:.1f} |", flush=True)


if __name__ == "__main__":
    main()
