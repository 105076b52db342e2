"""Run the segsuite CLI on the samples and record a fingerprint of every output.

    python scripts/cli_golden.py OUT.json        # run with the napari_segsuite on PYTHONPATH
    python scripts/cli_golden.py OUT.json --compare scripts/cli_golden_baseline.json

The fingerprint of an image file is its dtype, shape, spacing, origin, direction and a hash of the
voxels (SimpleITK / tifffile); of a JSON stdout, the JSON with timing keys dropped. Baseline:
main at 6c5cac5 (before the house-plan refactor of issue 12).
"""
import hashlib, json, os, subprocess, sys, tempfile
from pathlib import Path

CMDS = [
    "sample brain -o brain --quiet",
    "sample ct -o ct --quiet",
    "sample nuclei -o nuclei --quiet",
    "sample landsat -o landsat --quiet",
    "growcut brain/t1.nii.gz,brain/t2.nii.gz,brain/flair.nii.gz brain/seeds.nii.gz -o gc.nii.gz --quiet",
    "growcut brain/t1.nii.gz brain/seeds.nii.gz -o gc6.nii.gz --connectivity 6 --quiet",
    "watershed ct/ct.nii.gz -o ws_auto.nii.gz --auto-markers --quiet",
    "watershed brain/t1.nii.gz -o ws_mk.nii.gz --markers brain/seeds.nii.gz --quiet",
    "watershed nuclei/nuclei.nii.gz -o ws_inst.nii.gz --instances --quiet",
    "cluster brain/t1.nii.gz -o km.nii.gz --method kmeans --k 4 --quiet",
    "cluster nuclei/nuclei.nii.gz -o kmed.nii.gz --method kmedoids --k 3 --quiet",
    "cluster ct/ct.nii.gz -o slic.nii.gz --method slic --segments 200 --quiet",
    "cluster ct/ct.nii.gz -o spec.nii.gz --method spectral --k 4 --segments 300 --quiet",
    "metrics gc.nii.gz brain/labels.nii.gz --json",
    "metrics ws_inst.nii.gz nuclei/labels.nii.gz --json",
    "correct gc.nii.gz -o c_isl.nii.gz --remove-islands 50 --quiet",
    "correct gc.nii.gz -o c_margin.nii.gz --margin 2 --label 3 --lock 1 --quiet",
    "cluster landsat/landsat.nii.gz -o lc.nii.gz --method slic --segments 400 --k 5 --quiet",
    "watershed nuclei/nuclei.nii.gz -o ws_h.nii.gz --quiet",
    "metrics km.nii.gz brain/labels.nii.gz --json --no-distances",
    "index landsat/LC08_L2SP_042034_20240615_20240622_02_T1 --index ndvi,ndwi -o idx.tif --quiet",
    "predict nuclei/nuclei.nii.gz --model nuclei_2d -o pred.nii.gz --device cpu --quiet",
]
TIMING = {"time", "seconds", "elapsed", "runtime", "duration", "time_s", "wall_s"}


def clean(o):
    if isinstance(o, dict):
        return {k: clean(v) for k, v in o.items() if k not in TIMING and not k.endswith("_seconds")}
    if isinstance(o, list):
        return [clean(v) for v in o]
    if isinstance(o, float):
        return round(o, 9)
    return o


def fingerprint(path: Path):
    import numpy as np
    if path.suffix in (".tif", ".tiff"):
        import rasterio
        with rasterio.open(str(path)) as src:
            arr = src.read(); geo = [list(src.transform)[:6], str(src.crs), list(src.descriptions)]
    elif path.suffix == ".npy":
        arr = np.load(path); geo = None
    else:
        import SimpleITK as sitk
        im = sitk.ReadImage(str(path)); arr = sitk.GetArrayFromImage(im)
        geo = [list(im.GetSpacing()), list(im.GetOrigin()), list(im.GetDirection())]
    h = hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]
    return {"dtype": str(arr.dtype), "shape": list(arr.shape), "geometry": geo, "sha": h}


def main():
    out = Path(sys.argv[1]).resolve()
    work = Path(tempfile.mkdtemp(prefix="golden-"))
    res = {}
    for cmd in CMDS:
        before = set(p for p in work.rglob("*") if p.is_file())
        p = subprocess.run([sys.executable, "-m", "napari_segsuite.cli", *cmd.split()] if False else
                           ["segsuite", *cmd.split()], cwd=work, capture_output=True, text=True)
        entry = {"rc": p.returncode}
        if p.returncode:
            entry["stderr"] = p.stderr.strip().splitlines()[-1:] if p.stderr else []
        if "--json" in cmd and p.returncode == 0:
            entry["json"] = clean(json.loads(p.stdout))
        new = sorted(q for q in work.rglob("*") if q.is_file() and q not in before)
        entry["files"] = {str(q.relative_to(work)): (fingerprint(q) if q.suffix in (".gz", ".tif", ".nrrd", ".npy") else None)
                          for q in new}
        res[cmd] = entry
        print(p.returncode, cmd, file=sys.stderr, flush=True)
    out.write_text(json.dumps(res, indent=1, sort_keys=True))
    if "--compare" in sys.argv:
        base = json.loads(Path(sys.argv[sys.argv.index("--compare") + 1]).read_text())
        bad = [c for c in CMDS if base.get(c) != res.get(c)]
        for c in bad:
            print("DIFFERS:", c, file=sys.stderr)
            b, r = base.get(c), res.get(c)
            for k in sorted(set(b) | set(r)):
                if b.get(k) != r.get(k):
                    print("   ", k, "\n      before:", json.dumps(b.get(k))[:600], "\n      now:   ", json.dumps(r.get(k))[:600], file=sys.stderr)
        print("golden: %d of %d commands differ" % (len(bad), len(CMDS)))
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
