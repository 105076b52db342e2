"""Training a segmentation network from images and (painted) labels.

:func:`train_steps` is a job generator (see ``core.progress``): it yields a
:class:`~napari_segsuite.core.base.progress.Progress` after every batch and, at the end of each epoch,
one whose ``preview`` is ``dict(epoch, epochs, train_loss, val_loss, val_dice, lr, best_epoch)``
(for a live plot), and returns the best :class:`~.checkpoint.Checkpoint` (highest validation
Dice, then lowest validation loss). Pass a :class:`TrainState` to keep the best checkpoint
when the job is cancelled (``state.best``).

Data
----
``images`` and ``labels`` are lists of pairs (SegImage or numpy arrays; an array with one axis
more than its labels has its channels last). Labels: 0 = background, other integers = classes;
the model predicts exactly the label values seen in training (0 always included).

With ``dim=2`` a 3D volume is a stack of 2D images along its first array axis (z for NIfTI).
A slice whose labels are 0 everywhere counts as *unlabelled* and is skipped
(``skip_empty_slices=True``, the default) as long as some slice of that volume is labelled, so
you can paint a few slices of a volume and train on just those. Pass ``skip_empty_slices=False``
when your labels are a complete ground truth in which empty slices are true background.
With ``dim=3`` every voxel counts (0 = background).

Recipe
------
Per-channel z-score normalisation (statistics stored in the checkpoint); random patches (one in
three centred on a voxel of a label chosen uniformly among the labels: class-balanced foreground
oversampling, so a small tumour is seen as often as the white matter), random flips along every axis,
90-degree rotations in-plane (the last two axes) and intensity jitter; Adam, polynomial learning
rate decay, a validation split (whole images/slices when there are several, else the last part
of the image along its first axis), early stopping after ``patience`` epochs without
improvement; loss cross-entropy (or BCE for a binary model), soft Dice, or their sum (default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

import numpy as np

from ..base.errors import InputError
from ..base.image import SegImage
from ..base.progress import Progress, in_background, run
from ._common import (as_image, channel_stats, channels_first, normalise, resolve_device,
                      torch_threads)

LOSSES = ("auto", "ce", "bce", "dice", "ce+dice", "bce+dice")


@dataclass
class TrainConfig:
    """Training settings (defaults suit a CPU: a small 2D U-Net trains in minutes).

    Examples
    --------
    >>> c = TrainConfig(epochs=5, arch="segnet")
    >>> c.arch, c.epochs, c.lr, c.loss
    ('segnet', 5, 0.002, 'auto')
    """

    arch: str = "unet"
    dim: int = 2
    epochs: int = 30
    patch: Optional[int] = None          # 128 (2D) / 48 (3D), clipped to the image size
    batch: Optional[int] = None          # 8 (2D) / 2 (3D)
    lr: float = 2e-3
    loss: str = "auto"                   # ce+dice (multi-class) or bce+dice (binary)
    val_fraction: float = 0.2
    patience: int = 15
    steps_per_epoch: Optional[int] = None   # about one pass over the data, 10..50
    depth: Optional[int] = None
    width: Optional[int] = None
    model_settings: dict = field(default_factory=dict)  # upsample, padding, ...
    output: str = "auto"                 # "auto": sigmoid for 2 classes, else softmax
    foreground_fraction: float = 0.33
    augment: bool = True
    skip_empty_slices: bool = True
    device: str = "auto"
    seed: int = 0
    num_threads: Optional[int] = None    # CPU threads; None: the idle cores (auto_threads)


@dataclass
class TrainState:
    """Filled in while training runs, so the caller keeps the best model if it cancels.

    Attributes
    ----------
    best : Checkpoint or None
        The best model so far (by validation Dice).
    best_epoch : int
        Its epoch.
    history : list of dict
        One entry per epoch.
    device : str
        Where training runs.
    stopped_early : bool
        Whether early stopping ended it.

    Examples
    --------
    >>> s = TrainState()
    >>> s.best, s.best_epoch, s.history, s.stopped_early
    (None, 0, [], False)
    """

    best: Any = None                     # Checkpoint
    best_epoch: int = 0
    history: List[dict] = field(default_factory=list)
    device: str = ""
    stopped_early: bool = False


# ------------------------------------------------------------------------------------------------
class _Data:
    """Training samples as normalised (C, *patch-able spatial) arrays and class-index labels."""

    def __init__(self, images, labels, cfg: TrainConfig) -> None:
        if isinstance(images, (SegImage, np.ndarray)):
            images = [images]
        if isinstance(labels, (SegImage, np.ndarray)):
            labels = [labels]
        images, labels = list(images), list(labels)
        if not images:
            raise InputError("give at least one image and its labels")
        if len(images) != len(labels):
            raise InputError(f"{len(images)} image(s) but {len(labels)} label image(s); give "
                             "them in pairs")
        dim = int(cfg.dim)
        if dim not in (2, 3):
            raise InputError(f"dim must be 2 or 3, got {dim}")
        xs, ys = [], []
        self.spacing = None
        self.channel_names = None
        for i, (im, lab) in enumerate(zip(images, labels)):
            lab_arr = np.asarray(lab.array if isinstance(lab, SegImage) else lab)
            img = as_image(im, lab_arr.ndim, what=f"image {i + 1}")
            if isinstance(lab, SegImage) and lab.multichannel:
                raise InputError(f"labels {i + 1}: a label image has no channels")
            if img.shape != lab_arr.shape:
                raise InputError(f"pair {i + 1}: image shape {img.shape} and labels shape "
                                 f"{lab_arr.shape} differ; they must share one grid")
            if img.ndim not in (2, 3):
                raise InputError(f"image {i + 1}: expected 2D or 3D, got {img.ndim}D")
            if dim == 3 and img.ndim != 3:
                raise InputError(f"image {i + 1} is 2D; a 3D model needs volumes (use dim 2)")
            if not (np.issubdtype(lab_arr.dtype, np.integer) or lab_arr.dtype == bool):
                if not np.all(np.equal(np.mod(lab_arr, 1), 0)):
                    raise InputError(f"labels {i + 1}: label values must be whole numbers")
            lab_arr = lab_arr.astype(np.int64)
            if lab_arr.min() < 0:
                raise InputError(f"labels {i + 1}: label values must be >= 0")
            x = channels_first(img)
            if xs and x.shape[0] != xs[0].shape[0]:
                raise InputError(f"image {i + 1} has {x.shape[0]} channel(s), image 1 has "
                                 f"{xs[0].shape[0]}; all images need the same channels")
            if self.spacing is None:
                self.spacing = list(img.spacing)
                self.channel_names = img.metadata.get("channel_names")
            xs.append(x)
            ys.append(lab_arr)
        self.in_channels = xs[0].shape[0]
        self.mean, self.std = channel_stats(xs)
        present = set().union(*[np.unique(y).tolist() for y in ys])
        values = sorted(present | {0})
        if len(values) < 2:
            raise InputError("the labels are empty (all 0): paint at least one label")
        if len(present) < 2:
            import warnings

            from ..base.errors import InputWarning

            warnings.warn(f"the training labels hold a single class ({present.pop()} "
                          "everywhere): the model can only learn to predict it; label "
                          "the background (0) and the objects", InputWarning, stacklevel=2)
        self.label_values = [int(v) for v in values]
        lut_vals = np.asarray(values)
        # samples: (x (C, ...), y (...) class indices)
        self.samples: List[Tuple[np.ndarray, np.ndarray]] = []
        for x, y in zip(xs, ys):
            x = normalise(x, self.mean, self.std)
            yi = np.searchsorted(lut_vals, y).astype(np.int64)
            if dim == 2 and y.ndim == 3:
                labelled = [k for k in range(y.shape[0]) if y[k].any()]
                keep = labelled if (cfg.skip_empty_slices and labelled) else range(y.shape[0])
                for k in keep:
                    self.samples.append((np.ascontiguousarray(x[:, k]), yi[k]))
            else:
                self.samples.append((x, yi))
        self.dim = dim


def _split(samples, frac: float, rng) -> Tuple[list, list, str]:
    """Validation split: whole samples when there are several, else the image's last part."""
    frac = float(min(max(frac, 0.0), 0.9))
    if frac <= 0:
        return samples, samples, "none (validating on the training data)"
    if len(samples) >= 2:
        n_val = max(1, int(round(frac * len(samples))))
        n_val = min(n_val, len(samples) - 1)
        order = rng.permutation(len(samples))
        val = [samples[i] for i in sorted(order[:n_val])]
        train = [samples[i] for i in sorted(order[n_val:])]
        return train, val, f"{len(train)} training / {len(val)} validation images"
    x, y = samples[0]
    n = y.shape[0]
    cut = int(round(n * (1 - frac)))
    if cut < 8 or n - cut < 8:
        return samples, samples, "none (image too small to split; validating on training data)"
    return ([(x[:, :cut], y[:cut])], [(x[:, cut:], y[cut:])],
            f"first {cut} / last {n - cut} rows along the first axis")


class _Sampler:
    """Random patches with foreground oversampling and augmentation."""

    def __init__(self, samples, patch: Tuple[int, ...], fg_frac: float, augment: bool,
                 rng) -> None:
        self.samples, self.patch, self.fg_frac, self.augment, self.rng = (
            samples, patch, fg_frac, augment, rng)
        sizes = np.array([y.size for _, y in samples], dtype=float)
        self.weights = sizes / sizes.sum()
        # foreground voxels per class (class-balanced oversampling: rare classes such as a
        # tumour get as many centred patches as common ones)
        self.fg: List[dict] = []
        for _, y in samples:
            flat = y.ravel()
            per = {}
            for c in np.unique(flat[flat > 0]):
                idx = np.flatnonzero(flat == c)
                if idx.size > 50_000:
                    idx = rng.choice(idx, 50_000, replace=False)
                per[int(c)] = idx
            self.fg.append(per)
        self.classes = sorted(set().union(*[set(d) for d in self.fg]))

    def patch_at(self, i: int, cls: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """A patch of sample ``i``: centred (with jitter) on a voxel of class ``cls`` when
        ``cls > 0``, else anywhere."""
        x, y = self.samples[i]
        shape = y.shape
        starts = []
        if cls and cls in self.fg[i]:
            center = np.unravel_index(self.rng.choice(self.fg[i][cls]), shape)
            for c, s, p in zip(center, shape, self.patch):
                lo = int(c) - p // 2 + int(self.rng.integers(-(p // 4), p // 4 + 1))
                starts.append(int(min(max(lo, 0), max(s - p, 0))))
        else:
            starts = [int(self.rng.integers(0, max(s - p, 0) + 1))
                      for s, p in zip(shape, self.patch)]
        sl = tuple(slice(a, a + p) for a, p in zip(starts, self.patch))
        xp, yp = x[(slice(None),) + sl], y[sl]
        if yp.shape != tuple(self.patch):  # image smaller than the patch: pad, ignore the pad
            pads = [(0, p - s) for s, p in zip(yp.shape, self.patch)]
            xp = np.pad(xp, [(0, 0)] + pads)
            yp = np.pad(yp, pads, constant_values=-1)
        return xp, yp

    def batch(self, n: int) -> Tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for _ in range(n):
            fg = self.classes and self.rng.random() < self.fg_frac
            if fg:  # a class first, then an image holding it
                c = self.classes[int(self.rng.integers(len(self.classes)))]
                holders = [k for k, d in enumerate(self.fg) if c in d]
                i = holders[int(self.rng.integers(len(holders)))]
                xp, yp = self.patch_at(i, c)
            else:
                i = int(self.rng.choice(len(self.samples), p=self.weights))
                xp, yp = self.patch_at(i)
            if self.augment:
                xp, yp = self._augment(xp, yp)
            xs.append(xp)
            ys.append(yp)
        return np.stack(xs).astype(np.float32), np.stack(ys)

    def _augment(self, x: np.ndarray, y: np.ndarray):
        r = self.rng
        for ax in range(y.ndim):
            if r.random() < 0.5:
                x, y = np.flip(x, ax + 1), np.flip(y, ax)
        if y.shape[-1] == y.shape[-2]:
            k = int(r.integers(0, 4))
            if k:
                x, y = np.rot90(x, k, axes=(-2, -1)), np.rot90(y, k, axes=(-2, -1))
        c = x.shape[0]
        shape = (c,) + (1,) * y.ndim
        x = x * r.uniform(0.9, 1.1, c).reshape(shape) + r.uniform(-0.1, 0.1, c).reshape(shape)
        return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y)


def _loss_fn(name: str, sigmoid: bool):
    import torch
    import torch.nn.functional as F

    name = name.lower()
    if name not in LOSSES:
        raise InputError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    if name == "auto":
        name = "ce+dice"
    parts = set(name.replace("bce", "ce").split("+"))

    def loss(logits, y):
        valid = y >= 0
        total = logits.new_zeros(())
        if sigmoid:
            target = (y > 0).float()
            lg = logits[:, 0]
            if "ce" in parts:
                bce = F.binary_cross_entropy_with_logits(lg, target, reduction="none")
                total = total + (bce * valid).sum() / valid.sum().clamp(min=1)
            if "dice" in parts:
                p = torch.sigmoid(lg) * valid
                t = target * valid
                inter = (p * t).sum()
                total = total + 1 - (2 * inter + 1e-5) / (p.sum() + t.sum() + 1e-5)
            return total
        if "ce" in parts:
            total = total + F.cross_entropy(logits, y.clamp(min=-1), ignore_index=-1)
        if "dice" in parts:
            k = logits.shape[1]
            p = torch.softmax(logits, 1) * valid.unsqueeze(1)
            t = F.one_hot(y.clamp(min=0), k).movedim(-1, 1).float() * valid.unsqueeze(1)
            dims = (0,) + tuple(range(2, logits.ndim))
            inter = (p * t).sum(dims)[1:]
            tsum = t.sum(dims)[1:]
            den = p.sum(dims)[1:] + tsum
            present = tsum > 0  # classes absent from the batch would only add noise
            if bool(present.any()):
                dice = (2 * inter[present] + 1e-5) / (den[present] + 1e-5)
                total = total + 1 - dice.mean()
        return total

    return loss


def _hard_dice(pred: np.ndarray, y: np.ndarray, n_classes: int) -> float:
    """Mean Dice over the foreground classes present in ``y`` or ``pred`` (ignoring y < 0)."""
    valid = y >= 0
    scores = []
    for c in range(1, n_classes):
        p, t = (pred == c) & valid, (y == c)
        s = p.sum() + t.sum()
        if s:
            scores.append(2.0 * (p & t).sum() / s)
    return float(np.mean(scores)) if scores else 1.0


# ------------------------------------------------------------------------------------------------
def train_steps(images, labels, config: Optional[TrainConfig] = None,
                state: Optional[TrainState] = None, label_names: Optional[dict] = None,
                **overrides):
    """Train a model; a job generator returning the best :class:`~.checkpoint.Checkpoint`.

    ``config`` fields can also be passed as keyword arguments (``epochs=5``, ``arch="segnet"``).
    On the CPU, torch uses ``num_threads`` threads (default: the idle cores) while it runs.

    Parameters
    ----------
    images : SegImage or numpy.ndarray or list of them
        The training images.
    labels : SegImage or numpy.ndarray or list of them
        Their label maps, in pairs with ``images``.
    config : TrainConfig, optional
        The settings (None: the defaults).
    state : TrainState, optional
        Filled in while training runs (keeps the best model on cancel).
    label_names : dict, optional
        Label value -> name, stored in the checkpoint.
    **overrides
        :class:`TrainConfig` fields.

    Yields
    ------
    Progress
        Per training step and epoch.

    Returns
    -------
    Checkpoint
        The best model (the generator's return value).

    Examples
    --------
    Training is not run here (too slow for an example); the skipped line shows the call, the
    second the check that runs before any training:

    >>> from napari_segsuite.core.base.progress import run
    >>> img, lab = np.zeros((32, 32), np.float32), np.zeros((32, 32), np.uint8)
    >>> ckpt = run(train_steps(img, lab, epochs=2, width=4))  # doctest: +SKIP
    >>> run(train_steps(img, lab, epochs=0))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: epochs must be >= 1
    """
    cfg = TrainConfig(**{**(config.__dict__ if config else {}), **overrides})
    with torch_threads(cfg.num_threads):
        return (yield from _train_steps(images, labels, cfg, state, label_names))


def _train_steps(images, labels, cfg: TrainConfig, state: Optional[TrainState],
                 label_names: Optional[dict]):
    import torch

    from .checkpoint import Checkpoint
    from .models import build_model

    state = state if state is not None else TrainState()
    if cfg.epochs < 1:
        raise InputError("epochs must be >= 1")
    device = resolve_device(cfg.device)
    state.device = device
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    yield Progress(0, None, "preparing the data")

    def prepare():
        data = _Data(images, labels, cfg)
        n_classes = len(data.label_values)
        sigmoid = cfg.output == "sigmoid" or (cfg.output == "auto" and n_classes == 2)
        if sigmoid and n_classes != 2:
            raise InputError(f"a sigmoid output needs 2 label values, got {n_classes}")
        n_out = 1 if sigmoid else n_classes
        loss_fn = _loss_fn(cfg.loss, sigmoid)

        train_set, val_set, split_text = _split(data.samples, cfg.val_fraction, rng)
        dim = data.dim
        biggest = np.max([y.shape for _, y in train_set], axis=0)
        p = int(cfg.patch or (128 if dim == 2 else 48))
        patch = tuple(int(min(p, s)) for s in biggest)
        batch = int(cfg.batch or (8 if dim == 2 else 2))
        sampler = _Sampler(train_set, patch, cfg.foreground_fraction, cfg.augment, rng)
        voxels = sum(y.size for _, y in train_set)
        steps = int(cfg.steps_per_epoch
                    or min(max(math.ceil(voxels / np.prod(patch) / batch), 10), 50))
        vsampler = _Sampler(val_set, patch, cfg.foreground_fraction, False,
                            np.random.default_rng(cfg.seed + 1))
        n_val = 8 if dim == 3 else 24
        vx, vy = vsampler.batch(n_val)
        return (data, n_classes, sigmoid, n_out, loss_fn, train_set, val_set, split_text, dim,
                patch, batch, sampler, steps, n_val, vx, vy)

    # one long step on large volumes (label values, normalisation, sampling tables): off the
    # job's thread so Cancel and Ctrl-C answer meanwhile
    (data, n_classes, sigmoid, n_out, loss_fn, train_set, val_set, split_text, dim, patch, batch,
     sampler, steps, n_val, vx, vy) = yield from in_background(prepare,
                                                               message="preparing the data")

    settings = dict(cfg.model_settings)
    if cfg.depth is not None:
        settings["depth"] = int(cfg.depth)
    if cfg.width is not None:
        settings["width"] = int(cfg.width)
    model = build_model(cfg.arch, dim, data.in_channels, n_out, **settings)
    settings = dict(model.settings)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda e: (1 - min(e, cfg.epochs - 1) / cfg.epochs) ** 0.9)
    use_amp = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda") if use_amp else None

    def make_ckpt(metrics: dict) -> Checkpoint:
        return Checkpoint(arch=cfg.arch, dim=dim, settings=settings,
                          in_channels=data.in_channels, n_out=n_out,
                          output="sigmoid" if sigmoid else "softmax",
                          label_values=data.label_values, norm_mean=data.mean.tolist(),
                          norm_std=data.std.tolist(),
                          state_dict={k: v.detach().cpu().clone()
                                      for k, v in model.state_dict().items()},
                          label_names={str(k): str(v) for k, v in (label_names or {}).items()},
                          spacing=data.spacing, patch=list(patch),
                          channel_names=data.channel_names, metrics=metrics)

    yield Progress(0, cfg.epochs * steps,
                   f"training {cfg.arch} {dim}D on {device}: {len(data.samples)} image(s), "
                   f"validation: {split_text}")
    best_score = None
    bad_epochs = 0
    total = cfg.epochs * steps

    def train_step() -> float:
        xb, yb = sampler.batch(batch)
        xt = torch.from_numpy(xb).to(device)
        yt = torch.from_numpy(yb).to(device)
        opt.zero_grad(set_to_none=True)
        if use_amp:
            with torch.autocast("cuda", dtype=torch.float16):
                out = model(xt)
            loss = loss_fn(out.float(), yt)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss = loss_fn(model(xt), yt)
            loss.backward()
            opt.step()
        return float(loss.detach())

    def validate():
        # validation on fixed patches, in small batches
        model.eval()
        vloss, preds = [], []
        with torch.inference_mode():
            for a in range(0, n_val, batch):
                xt = torch.from_numpy(vx[a:a + batch]).to(device)
                yt = torch.from_numpy(vy[a:a + batch]).to(device)
                out = model(xt).float()
                vloss.append(float(loss_fn(out, yt)) * len(xt))
                if sigmoid:
                    preds.append((out[:, 0] > 0).long().cpu().numpy())
                else:
                    preds.append(out.argmax(1).cpu().numpy())
        return vloss, preds
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        losses = []
        for step in range(steps):
            # one optimiser step (a few torch calls that release the GIL) off the job's
            # thread: Cancel answers within 0.1 s even when a step takes longer on a slow CPU
            where = f"epoch {epoch}/{cfg.epochs}, batch {step + 1}/{steps}"
            loss = yield from in_background(train_step, done=(epoch - 1) * steps + step,
                                            total=total, message=where)
            losses.append(loss)
            yield Progress((epoch - 1) * steps + step + 1, total,
                           f"epoch {epoch}/{cfg.epochs}, batch {step + 1}/{steps}, "
                           f"loss {losses[-1]:.4f}")
        sched.step()
        vloss, preds = yield from in_background(validate, done=epoch * steps, total=total,
                                                message=f"epoch {epoch}/{cfg.epochs}: validating")
        val_loss = sum(vloss) / n_val
        val_dice = _hard_dice(np.concatenate(preds), vy, n_classes)
        train_loss = float(np.mean(losses))
        score = (round(val_dice, 6), -val_loss)
        improved = best_score is None or score > best_score
        metrics = dict(epoch=epoch, epochs=cfg.epochs, train_loss=train_loss,
                       val_loss=val_loss, val_dice=val_dice, lr=opt.param_groups[0]["lr"])
        if improved:
            best_score = score
            bad_epochs = 0
            state.best = make_ckpt(dict(metrics, device=device))
            state.best_epoch = epoch
        else:
            bad_epochs += 1
        metrics["best_epoch"] = state.best_epoch
        state.history.append(metrics)
        stop = bad_epochs >= cfg.patience
        yield Progress(epoch * steps, total,
                       f"epoch {epoch}/{cfg.epochs}: train loss {train_loss:.4f}, val loss "
                       f"{val_loss:.4f}, val Dice {val_dice:.3f}" + (", stopping early" if stop
                                                                    else ""),
                       preview=dict(metrics))
        if stop:
            state.stopped_early = True
            break
    best = state.best
    best.metrics["epochs_run"] = len(state.history)
    return best


def train(images, labels, config: Optional[TrainConfig] = None, **overrides):
    """Plain-function form of :func:`train_steps`: returns the best Checkpoint.

    Parameters
    ----------
    images : SegImage or numpy.ndarray or list of them
        The training images.
    labels : SegImage or numpy.ndarray or list of them
        Their label maps, in pairs with ``images``.
    config : TrainConfig, optional
        The settings (None: the defaults).
    **overrides
        :class:`TrainConfig` fields.

    Returns
    -------
    Checkpoint
        The best model.

    Examples
    --------
    Training is not run here (too slow for an example); the bad setting is refused first:

    >>> img, lab = np.zeros((32, 32), np.float32), np.zeros((32, 32), np.uint8)
    >>> ckpt = train(img, lab, epochs=2, width=4)  # doctest: +SKIP
    >>> train(img, lab, epochs=0)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: epochs must be >= 1
    """
    return run(train_steps(images, labels, config, **overrides))
