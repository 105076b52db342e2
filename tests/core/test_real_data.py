"""The real-data set: present when the testing extra is installed, geometry kept, truth sane."""

import numpy as np
import pytest

from napari_segsuite.samples import real


def test_unknown_case_has_a_reason():
    assert "no real case" in real.skip_reason("nope")


@pytest.mark.skipif(real.skip_reason("mni152") is not None,
                    reason=str(real.skip_reason("mni152")))
def test_mni152_t1_and_tissue_truth():
    case = real.mni152()
    t1, truth = case.images["t1"], case.labels["labels"]
    assert t1.shape == truth.shape == (189, 233, 197)
    assert t1.spacing == (1.0, 1.0, 1.0)
    # the NIfTI header's orientation (LPS flips x and y) is kept, not dropped
    assert t1.direction[0] == -1.0 and t1.direction[4] == -1.0
    assert truth.origin == t1.origin
    # skull-stripped: background is exactly 0 and is label 0
    assert np.all(truth.array[t1.array == 0] == 0)
    frac = np.bincount(truth.array.ravel(), minlength=4) / truth.array.size
    assert frac[2] > 0.05 and frac[3] > 0.05 and frac[1] > 0.005
    # white matter is brighter than grey matter on T1
    assert t1.array[truth.array == 3].mean() > t1.array[truth.array == 2].mean() + 10
    with pytest.raises(ValueError):
        t1.array[0, 0, 0] = 1  # shared, read-only


@pytest.mark.skipif(real.skip_reason("dsb_nuclei") is not None,
                    reason=str(real.skip_reason("dsb_nuclei")))
def test_dsb_nuclei_image_and_instances():
    case = real.dsb_nuclei()
    img, lab = case.images["nuclei"], case.labels["labels"].array
    assert img.shape == lab.shape == (512, 512)
    assert lab.max() == 125 and len(np.unique(lab)) == 126  # renumbered 1..125
    # nuclei are bright on a dark background
    assert img.array[lab > 0].mean() > 2 * img.array[lab == 0].mean()
