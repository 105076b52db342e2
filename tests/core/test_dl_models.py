"""Output shapes of every architecture, 2D and 3D, odd sizes, channels, binary vs multi-class."""

import pytest

torch = pytest.importorskip("torch")

from napari_segsuite.core.dl.models import ARCHS, FCN8s, SegNet, UNet, build_model  # noqa: E402
from napari_segsuite.core.base.errors import InputError# noqa: E402

VARIANTS = [("unet", {}), ("unet", {"upsample": "interp"}), ("unet", {"padding": "valid"}),
            ("segnet", {}), ("segnet", {"upsample": "bilinear"}),
            ("segnet", {"upsample": "bed_of_nails"}), ("fcn", {})]


@pytest.mark.parametrize("arch,kw", VARIANTS)
@pytest.mark.parametrize("dim,shape", [(2, (13, 22)), (2, (8, 8)), (3, (7, 9, 11))])
@pytest.mark.parametrize("cin,nout", [(1, 1), (3, 4)])
def test_output_shape(arch, kw, dim, shape, cin, nout):
    torch.manual_seed(0)
    m = build_model(arch, dim, cin, nout, width=4, depth=3, **kw).eval()
    x = torch.randn((2, cin) + shape)
    with torch.no_grad():
        y = m(x)
    assert tuple(y.shape) == (2, nout) + shape
    assert torch.isfinite(y).all()


def test_classes_and_settings():
    assert isinstance(build_model("unet", 2, 1, 2), UNet)
    assert isinstance(build_model("segnet", 3, 1, 2), SegNet)
    assert isinstance(build_model("fcn", 2, 1, 2), FCN8s)
    m = build_model("unet", 2, 2, 3, depth=2, width=8)
    assert m.settings == {"depth": 2, "width": 8, "upsample": "transpose", "padding": "same"}
    # channels double down the U-Net encoder
    widths = [blk[0].out_channels for blk in m.down]
    assert widths == [8, 16, 32]
    # the same settings rebuild an identical network (what a checkpoint relies on)
    m2 = build_model("unet", 2, 2, 3, **m.settings)
    m2.load_state_dict(m.state_dict())


def test_valid_unet_matches_paper_geometry():
    m = UNet(2, 1, 2, depth=4, width=2, padding="valid")
    # Ronneberger et al.: a 572x572 input gives a 388x388 output
    assert m._valid_out(572) == 388


def test_segnet_unpool_uses_switches():
    """Unpooling puts each value back where its maximum was: a single bright pixel at an odd
    position stays at that position after pool + unpool."""
    m = SegNet(2, 1, 1, depth=1, width=1)
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 3] = 5.0
    y, idx = m.pool(x)
    back = m._up(y, idx, x.shape)
    assert torch.equal(back, x)
    m.upsample_mode = "bed_of_nails"
    nails = m._up(y, idx, x.shape)
    assert nails[0, 0, 0, 2] == 5.0 and nails.sum() == 5.0


def test_bad_settings():
    with pytest.raises(InputError):
        build_model("resnet", 2, 1, 2)
    with pytest.raises(InputError):
        build_model("unet", 4, 1, 2)
    with pytest.raises(InputError):
        build_model("fcn", 2, 1, 2, depth=2)
    m = build_model("unet", 2, 3, 2, width=4)
    with pytest.raises(InputError, match="3 channel"):
        m(torch.zeros(1, 2, 8, 8))
    assert set(ARCHS) == {"unet", "segnet", "fcn"}
