"""Segmentation networks in plain PyTorch (no torchvision): U-Net, SegNet, FCN-8s, 2D and 3D.

Every model takes ``(N, C, *spatial)`` float input and returns ``(N, n_out, *spatial)`` logits of
the *same* spatial size, for any input size: inputs are padded internally (to a multiple of
``2**depth``, or to the size a "valid" U-Net needs) and the output is cropped back.
``n_out`` is 1 for a binary (sigmoid) model and the number of classes for a softmax model.

- :class:`UNet` (Ronneberger et al. 2015): double 3x3 convolutions with batch norm and ReLU,
  channels doubling down the encoder, skip connections by concatenation, transposed-convolution
  or bilinear/trilinear upsampling; ``padding="same"`` (padded convolutions) or ``"valid"``
  (unpadded convolutions with cropped skips, as in the paper; the input is mirrored by the
  network's margin so the output still covers the whole input).
- :class:`SegNet` (Badrinarayanan et al. 2017): a VGG16-style encoder with batch norm (2, 2, 3,
  3, 3 convolutions per stage, as deep and as wide as configured), max pooling that remembers
  its switches, a mirrored decoder that unpools with them (``MaxUnpool``); ``upsample="bilinear"``
  or ``"bed_of_nails"`` (each value to the top-left corner of its cell) are the alternatives.
- :class:`FCN8s` (Long et al. 2015): a VGG-style encoder, a convolutional classifier ("fc6/fc7"
  as convolutions) and a 1x1 score layer, scores upsampled by transposed convolutions
  (initialised bilinear) and fused with 1x1 score predictions of pool4 and pool3, then upsampled
  to the input resolution.

:func:`build_model` builds any of them from plain settings (what a checkpoint stores).
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base.errors import InputError

ARCHS = ("unet", "segnet", "fcn")


def _nn(dim: int):
    if dim == 2:
        return nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.MaxPool2d, nn.MaxUnpool2d
    if dim == 3:
        return nn.Conv3d, nn.ConvTranspose3d, nn.BatchNorm3d, nn.MaxPool3d, nn.MaxUnpool3d
    raise InputError(f"dim must be 2 or 3, got {dim}")


def _interp_mode(dim: int) -> str:
    return "bilinear" if dim == 2 else "trilinear"


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> Tuple[torch.Tensor, Tuple[int, ...]]:
    """Pad the spatial axes (at their end) to a multiple of ``multiple``; returns the old size."""
    size = tuple(x.shape[2:])
    target = [int(math.ceil(s / multiple) * multiple) for s in size]
    pads: List[int] = []
    for s, t in reversed(list(zip(size, target))):
        pads += [0, t - s]
    if any(pads):
        x = _pad(x, pads)
    return x, size


def _pad(x: torch.Tensor, pads: Sequence[int]) -> torch.Tensor:
    """Mirror padding where torch allows it (pad < size), replicate otherwise."""
    size = x.shape[2:][::-1]
    ok = all(pads[2 * i] < size[i] and pads[2 * i + 1] < size[i] for i in range(len(size)))
    return F.pad(x, list(pads), mode="reflect" if ok else "replicate")


def _crop(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    idx = (slice(None), slice(None)) + tuple(slice(0, s) for s in size)
    return x[idx]


def _center_crop(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    idx = [slice(None), slice(None)]
    for have, want in zip(x.shape[2:], size):
        off = (have - want) // 2
        idx.append(slice(off, off + want))
    return x[tuple(idx)]


class ConvBlock(nn.Sequential):
    """``n`` x (conv 3 -> batch norm -> ReLU).

    Parameters
    ----------
    dim : {2, 3}
        Spatial dimension.
    cin, cout : int
        Input and output channels.
    n : int
        Number of convolutions.
    padding : int
        Convolution padding (1: same size, 0: valid).

    Examples
    --------
    >>> import torch
    >>> tuple(ConvBlock(2, 1, 4)(torch.zeros(1, 1, 5, 5)).shape)
    (1, 4, 5, 5)
    """

    def __init__(self, dim: int, cin: int, cout: int, n: int = 2, padding: int = 1) -> None:
        Conv, _, BN, _, _ = _nn(dim)
        layers: List[nn.Module] = []
        for i in range(n):
            layers += [Conv(cin if i == 0 else cout, cout, 3, padding=padding, bias=False),
                       BN(cout), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class SegModel(nn.Module):
    """Base class: remembers its settings so a checkpoint can rebuild it.

    Parameters
    ----------
    dim : {2, 3}
        Spatial dimension.
    in_channels, n_out : int
        Input channels and outputs (1 for a sigmoid model), both >= 1.

    Examples
    --------
    >>> m = SegModel(2, 1, 3)
    >>> m.dim, m.in_channels, m.n_out, m.settings
    (2, 1, 3, {})
    """

    arch = "base"

    def __init__(self, dim: int, in_channels: int, n_out: int) -> None:
        super().__init__()
        if in_channels < 1 or n_out < 1:
            raise InputError("a model needs at least one input channel and one output")
        self.dim = int(dim)
        self.in_channels = int(in_channels)
        self.n_out = int(n_out)
        self.settings: dict = {}

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != self.dim + 2:
            raise InputError(f"{self.arch}: expected a (N, C, {'Z, ' if self.dim == 3 else ''}Y, X)"
                             f" tensor, got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise InputError(f"{self.arch}: the model takes {self.in_channels} channel(s), the "
                             f"image has {x.shape[1]}")


# ------------------------------------------------------------------------------------------------
class UNet(SegModel):
    """U-Net, 2D or 3D.

    depth: number of poolings (the encoder has ``depth + 1`` levels); width: channels of the
    first level (doubled at every level); upsample: ``"transpose"`` (2x2 transposed convolution,
    as in the paper) or ``"interp"`` (bilinear/trilinear, then a 1x1 convolution); padding:
    ``"same"`` or ``"valid"``.

    Examples
    --------
    >>> import torch
    >>> net = UNet(dim=2, in_channels=1, n_out=2, depth=1, width=2)
    >>> tuple(net(torch.zeros(1, 1, 6, 10)).shape)                # any size in, same size out
    (1, 2, 6, 10)
    >>> net.settings
    {'depth': 1, 'width': 2, 'upsample': 'transpose', 'padding': 'same'}
    """

    arch = "unet"

    def __init__(self, dim: int = 2, in_channels: int = 1, n_out: int = 2, depth: int = 3,
                 width: int = 16, upsample: str = "transpose", padding: str = "same") -> None:
        super().__init__(dim, in_channels, n_out)
        if depth < 1:
            raise InputError("U-Net depth must be >= 1")
        if upsample not in ("transpose", "interp"):
            raise InputError(f"U-Net upsample must be 'transpose' or 'interp', got {upsample!r}")
        if padding not in ("same", "valid"):
            raise InputError(f"U-Net padding must be 'same' or 'valid', got {padding!r}")
        self.settings = dict(depth=int(depth), width=int(width), upsample=upsample,
                             padding=padding)
        Conv, ConvT, _, Pool, _ = _nn(dim)
        self.depth, self.padding, self.upsample_mode = int(depth), padding, upsample
        p = 1 if padding == "same" else 0
        chans = [int(width) * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        cin = in_channels
        for c in chans:
            self.down.append(ConvBlock(dim, cin, c, 2, p))
            cin = c
        self.pool = Pool(2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for lvl in range(depth - 1, -1, -1):
            cdeep, c = chans[lvl + 1], chans[lvl]
            if upsample == "transpose":
                self.up.append(ConvT(cdeep, c, 2, stride=2))
            else:
                self.up.append(nn.Sequential(
                    nn.Upsample(scale_factor=2, mode=_interp_mode(dim), align_corners=False),
                    Conv(cdeep, c, 1)))
            self.dec.append(ConvBlock(dim, 2 * c, c, 2, p))
        self.head = Conv(chans[0], n_out, 1)

    # -- valid-mode geometry -------------------------------------------------------------------
    def _valid_out(self, n: int) -> Optional[int]:
        """Output length of the valid network for input length ``n`` (None when invalid)."""
        for _ in range(self.depth):
            n -= 4
            if n <= 0 or n % 2:
                return None
            n //= 2
        n -= 4
        if n <= 0:
            return None
        for _ in range(self.depth):
            n = 2 * n - 4
            if n <= 0:
                return None
        return n

    def valid_input_size(self, out: int) -> Tuple[int, int]:
        """Smallest input length whose valid output covers ``out``; returns (input, output)."""
        n = out
        while True:
            o = self._valid_out(n)
            if o is not None and o >= out:
                return n, o
            n += 1

    def _forward_net(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < self.depth:
                skips.append(x)
                x = self.pool(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = up(x)
            if self.padding == "valid":
                skip = _center_crop(skip, x.shape[2:])
            x = dec(torch.cat([skip, x], dim=1))
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        if self.padding == "same":
            x, size = _pad_to_multiple(x, 2 ** self.depth)
            return _crop(self._forward_net(x), size)
        size = tuple(x.shape[2:])
        pads: List[int] = []
        for s in reversed(size):
            n_in, n_out = self.valid_input_size(s)
            left = (n_in - n_out) // 2
            pads += [left, n_in - s - left]
        y = self._forward_net(_pad(x, pads))
        return _crop(y, size)


# ------------------------------------------------------------------------------------------------
#: convolutions per VGG16 stage (the last repeated for deeper encoders)
VGG_CONVS = (2, 2, 3, 3, 3)


def _vgg_encoder(dim: int, in_channels: int, depth: int, width: int):
    """The VGG16-style encoder of SegNet and FCN-8s: stage i has ``width * min(2**i, 8)``
    channels and :data:`VGG_CONVS` convolutions. Returns (the stages as an ``nn.ModuleList``,
    their channels, their convolutions)."""
    chans = [int(width) * min(2 ** i, 8) for i in range(depth)]
    nconv = [VGG_CONVS[min(i, len(VGG_CONVS) - 1)] for i in range(depth)]
    enc = nn.ModuleList()
    cin = in_channels
    for c, n in zip(chans, nconv):
        enc.append(ConvBlock(dim, cin, c, n))
        cin = c
    return enc, chans, nconv


class SegNet(SegModel):
    """SegNet, 2D or 3D: VGG16-style encoder (convolutions per stage: 2, 2, 3, 3, 3, ...),
    decoder unpooling with the encoder's max-pooling switches.

    depth: number of stages (5 in the paper); width: channels of the first stage (doubled per
    stage up to ``8 * width``, 64 -> 512 in the paper); upsample: ``"unpool"`` (max-location
    switches), ``"bilinear"`` (bilinear/trilinear interpolation) or ``"bed_of_nails"``.

    Examples
    --------
    >>> import torch
    >>> net = SegNet(dim=2, in_channels=1, n_out=2, depth=1, width=2)
    >>> tuple(net(torch.zeros(1, 1, 6, 10)).shape)
    (1, 2, 6, 10)
    """

    arch = "segnet"
    CONVS = VGG_CONVS

    def __init__(self, dim: int = 2, in_channels: int = 1, n_out: int = 2, depth: int = 4,
                 width: int = 16, upsample: str = "unpool") -> None:
        super().__init__(dim, in_channels, n_out)
        if depth < 1:
            raise InputError("SegNet depth must be >= 1")
        if upsample not in ("unpool", "bilinear", "bed_of_nails"):
            raise InputError("SegNet upsample must be 'unpool', 'bilinear' or 'bed_of_nails', "
                             f"got {upsample!r}")
        self.settings = dict(depth=int(depth), width=int(width), upsample=upsample)
        Conv, _, _, Pool, Unpool = _nn(dim)
        self.depth, self.upsample_mode = int(depth), upsample
        self.enc, chans, nconv = _vgg_encoder(dim, in_channels, depth, width)
        self.pool = Pool(2, stride=2, return_indices=True)
        self.unpool = Unpool(2, stride=2)
        self.dec = nn.ModuleList()
        for i in range(depth - 1, -1, -1):
            cout = chans[i - 1] if i > 0 else chans[0]
            layers = [ConvBlock(dim, chans[i], chans[i], max(nconv[i] - 1, 1))]
            layers.append(ConvBlock(dim, chans[i], cout, 1))
            self.dec.append(nn.Sequential(*layers))
        self.head = Conv(chans[0], n_out, 3, padding=1)

    def _up(self, x: torch.Tensor, idx: torch.Tensor, size) -> torch.Tensor:
        if self.upsample_mode == "unpool":
            return self.unpool(x, idx, output_size=size)
        if self.upsample_mode == "bilinear":
            return F.interpolate(x, size=tuple(size[2:]), mode=_interp_mode(self.dim),
                                 align_corners=False)
        out = x.new_zeros(tuple(size))
        sl = (slice(None), slice(None)) + tuple(slice(0, None, 2) for _ in range(self.dim))
        out[sl] = x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        x, size = _pad_to_multiple(x, 2 ** self.depth)
        switches = []
        for block in self.enc:
            x = block(x)
            shape = x.shape
            x, idx = self.pool(x)
            switches.append((idx, shape))
        for dec, (idx, shape) in zip(self.dec, reversed(switches)):
            x = dec(self._up(x, idx, shape))
        return _crop(self.head(x), size)


# ------------------------------------------------------------------------------------------------
def _bilinear_kernel(dim: int, channels: int, k: int) -> torch.Tensor:
    factor = (k + 1) // 2
    center = factor - 1 if k % 2 == 1 else factor - 0.5
    og = torch.arange(k, dtype=torch.float32)
    f1 = 1 - (og - center).abs() / factor
    filt = f1
    for _ in range(dim - 1):
        filt = filt.unsqueeze(-1) * f1
    w = torch.zeros((channels, channels) + (k,) * dim)
    for c in range(channels):
        w[c, c] = filt
    return w


class FCN8s(SegModel):
    """FCN-8s, 2D or 3D.

    depth: number of encoder stages/poolings (5 in the paper, at least 3: pool3 and pool4 are
    the stages ``depth-2`` and ``depth-1``); width: channels of the first stage (doubled per
    stage up to ``8 * width``); the classifier ("fc6/fc7") has ``16 * width`` channels.

    Examples
    --------
    >>> import torch
    >>> net = FCN8s(dim=2, in_channels=1, n_out=2, depth=3, width=2)
    >>> tuple(net(torch.zeros(1, 1, 6, 10)).shape)
    (1, 2, 6, 10)
    """

    arch = "fcn"

    def __init__(self, dim: int = 2, in_channels: int = 1, n_out: int = 2, depth: int = 4,
                 width: int = 16) -> None:
        super().__init__(dim, in_channels, n_out)
        if depth < 3:
            raise InputError("FCN-8s depth must be >= 3 (it fuses pool3 and pool4)")
        self.settings = dict(depth=int(depth), width=int(width))
        Conv, ConvT, _, Pool, _ = _nn(dim)
        self.depth = int(depth)
        self.enc, chans, _ = _vgg_encoder(dim, in_channels, depth, width)
        self.pool = Pool(2)
        fc = 16 * int(width)
        self.classifier = nn.Sequential(
            Conv(chans[-1], fc, 3, padding=1), nn.ReLU(inplace=True), nn.Dropout(0.2),
            Conv(fc, fc, 1), nn.ReLU(inplace=True), nn.Dropout(0.2),
            Conv(fc, n_out, 1))
        self.score_pool4 = Conv(chans[-2], n_out, 1)
        self.score_pool3 = Conv(chans[-3], n_out, 1)
        self.up2 = ConvT(n_out, n_out, 4, stride=2, padding=1, bias=False)
        self.up2b = ConvT(n_out, n_out, 4, stride=2, padding=1, bias=False)
        f = 2 ** (depth - 2)
        self.up_final = ConvT(n_out, n_out, 2 * f, stride=f, padding=f // 2, bias=False)
        with torch.no_grad():
            for m in (self.up2, self.up2b, self.up_final):
                m.weight.copy_(_bilinear_kernel(dim, n_out, m.kernel_size[0]))
            for m in (self.score_pool4, self.score_pool3):  # start as plain FCN-32s
                m.weight.zero_()
                m.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        x, size = _pad_to_multiple(x, 2 ** self.depth)
        pools = []
        for block in self.enc:
            x = self.pool(block(x))
            pools.append(x)
        s = self.classifier(x)
        s = self.up2(s) + self.score_pool4(pools[-2])
        s = self.up2b(s) + self.score_pool3(pools[-3])
        s = self.up_final(s)
        return _crop(s, size)


# ------------------------------------------------------------------------------------------------
_CLASSES = {"unet": UNet, "segnet": SegNet, "fcn": FCN8s}

#: Small defaults that train in minutes on a CPU.
DEFAULTS = {"unet": dict(depth=3, width=16), "segnet": dict(depth=4, width=16),
            "fcn": dict(depth=4, width=16)}


def build_model(arch: str, dim: int, in_channels: int, n_out: int, **settings) -> SegModel:
    """Build ``arch`` ("unet", "segnet", "fcn") for ``dim`` 2 or 3 with the given settings
    (depth, width, upsample, padding; see each class).

    Parameters
    ----------
    arch : {"unet", "segnet", "fcn"}
        The architecture.
    dim : {2, 3}
        Spatial dimension.
    in_channels, n_out : int
        Input channels and outputs.
    **settings
        The class's settings; None or missing: :data:`DEFAULTS`.

    Returns
    -------
    SegModel
        The untrained network.

    Raises
    ------
    InputError
        On an unknown architecture, a bad dimension or a bad setting.

    Examples
    --------
    >>> net = build_model("unet", 2, 1, 1, depth=1, width=2)
    >>> type(net).__name__, net.n_out, net.settings["depth"]
    ('UNet', 1, 1)
    """
    arch = str(arch).lower()
    if arch not in _CLASSES:
        raise InputError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if dim not in (2, 3):
        raise InputError(f"dim must be 2 or 3, got {dim}")
    kw = dict(DEFAULTS[arch])
    kw.update({k: v for k, v in settings.items() if v is not None})
    try:
        return _CLASSES[arch](dim=dim, in_channels=in_channels, n_out=n_out, **kw)
    except TypeError as exc:
        raise InputError(f"{arch}: bad setting ({exc})") from None


def count_parameters(model: nn.Module) -> int:
    """The number of parameters (weights) of ``model``.

    Parameters
    ----------
    model : torch.nn.Module
        Any network.

    Returns
    -------
    int
        Its parameter count.

    Examples
    --------
    >>> count_parameters(build_model("unet", 2, 1, 2, depth=1, width=2))
    450
    """
    return int(sum(p.numel() for p in model.parameters()))
