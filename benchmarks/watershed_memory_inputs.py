"""Inputs of the watershed peak-memory measurements (issue 14 item 8, benchmarks/RESULTS.md).

``python benchmarks/watershed_memory_inputs.py N [DIR]`` writes ``imgN.nii`` (float32 smoothed
noise, ``gaussian_filter(standard_normal, 2)``, seed 0: N^3 * 4 bytes) and ``seedsN.nii.gz``
(three one-voxel uint8 seeds) into DIR (default: the current folder). The peaks are then
measured with ``/usr/bin/time -v`` on the CLI, e.g.::

    /usr/bin/time -v segsuite watershed img256.nii -o ws.nii.gz --force --quiet
    /usr/bin/time -v segsuite watershed img256.nii --markers seeds256.nii.gz -o wsm.nii.gz --force --quiet

and N = 16 gives the interpreter's baseline.
"""

import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import gaussian_filter


def main() -> None:
    n = int(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(".")
    rng = np.random.default_rng(0)
    img = gaussian_filter(rng.standard_normal((n, n, n), dtype=np.float32), 2)
    sitk.WriteImage(sitk.GetImageFromArray(img), str(out / f"img{n}.nii"))
    seeds = np.zeros((n, n, n), np.uint8)
    seeds[n // 4, n // 4, n // 4] = 1
    seeds[n // 2, n // 2, n // 2] = 2
    seeds[3 * n // 4, n // 4, 3 * n // 4] = 3
    sitk.WriteImage(sitk.GetImageFromArray(seeds), str(out / f"seeds{n}.nii.gz"))


if __name__ == "__main__":
    main()
