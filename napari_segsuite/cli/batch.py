"""``segsuite batch RECIPE -o OUTDIR [--workers N | --scheduler ADDRESS]``: many cases through a
list of steps on dask.distributed.

A recipe (YAML or JSON) names a table and the steps::

    table: cases.csv            # one row per case: id (optional), image, and the files steps use
    steps:
      - growcut: {connectivity: 26}        # SEEDS: the row's `seeds` column
      - correct: {keep-largest: true}
      - metrics: {gt: gt}                  # compares the previous output with the row's `gt`

Each step is one ``segsuite`` command run in a worker with the row's files: its input image (or
labels, or prediction) is the previous step's output, the first step's is the row's ``image``.
An option value that names a column of the table is replaced by that row's file; other relative
paths (e.g. ``model: unet.pt``) are relative to the recipe. One case is one dask task; a case that
fails (a corrupt file, bad seeds) is reported in its row and stops nothing.

Outputs: ``OUTDIR/<id>/<step>.<ext>`` (``ext``: the row's image extension; ``.nii.gz`` for a DICOM
folder) and ``OUTDIR/results.csv``: ``id``, ``status`` (done, failed, skipped), ``error``,
``seconds``, and the metrics as ``<label>.<figure>`` columns (``1.dice``). A finished case leaves
``OUTDIR/<id>/.segsuite-case.json``; a rerun skips the cases whose record matches the recipe, the
row and the input files (resumable after a crash or a lost worker) unless ``--force``.
"""

from __future__ import annotations

import argparse
import sys

from ._common import add_quiet_arg, positive_int

#: Commands a batch step may run, with the positional inputs each takes, in order. A positional
#: is either the previous step's output ("<prev>") or a table column (its default; the step's
#: option of the same name, e.g. ``seeds: my_seeds``, names another column or a file).
STEP_INPUTS = {
    "growcut": ("<prev>", "seeds"),
    "watershed": ("<prev>",),
    "cluster": ("<prev>",),
    "predict": ("<prev>",),
    "correct": ("<prev>",),
    "metrics": ("<prev>", "gt"),
}
#: Steps that write an image (the others print figures).
WRITES = {"growcut", "watershed", "cluster", "predict", "correct"}
CASE_RECORD = ".segsuite-case.json"
RESULT_COLUMNS = ("id", "status", "error", "seconds")


def register(sub) -> None:
    p = sub.add_parser(
        "batch", help="run a table of cases through a list of steps on dask.distributed",
        description="Run every case (row) of a recipe's table through its steps, one case per "
                    "dask task, on a local cluster of --workers processes or on the cluster at "
                    "--scheduler. Writes OUTDIR/<id>/<step>.<ext> and OUTDIR/results.csv (a row "
                    "per case: id, status, error, seconds, <label>.<figure> metrics). A rerun "
                    "skips finished cases unless --force.",
        epilog="Recipe (YAML or JSON): 'table: cases.csv' (columns: id optional, image required, "
               "plus seeds, markers, mask, gt, ... as the steps use them; paths relative to the "
               "CSV) and 'steps: [{command: {option: value}}, ...]' with the commands growcut, "
               "watershed, cluster, predict, correct, metrics and their long option names. Each "
               "step reads the previous step's output. Exit status: 0 when every case is done "
               "(or skipped as done before), 2 when any case failed (its row says why).")
    p.add_argument("recipe", metavar="RECIPE", help="recipe file (.yaml, .yml or .json)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="output folder (created if missing)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=None, metavar="N",
                       help="local cluster of N worker processes (default: the CPU cores)")
    where.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help="run on an existing dask.distributed cluster, e.g. "
                            "tcp://host:8786 (its workers must see the same files)")
    p.add_argument("--force", action="store_true",
                   help="redo every case, including those finished before")
    add_quiet_arg(p)
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------------------------
# the recipe
# ------------------------------------------------------------------------------------------------
def load_recipe(path):
    """Read and check a recipe; returns ``(cases, steps)``: a list of case dicts (``id``,
    ``row`` with absolute paths for file columns, ``ext``) and a list of ``(name, command,
    options)``. Every problem is an :class:`InputError` naming where it is."""
    import csv
    import json
    from pathlib import Path

    from ..core.base.errors import InputError

    rp = Path(path)
    if not rp.is_file():
        raise InputError(f"RECIPE {rp}: no such file")
    text = rp.read_text(encoding="utf-8", errors="replace")
    try:
        if rp.suffix.lower() == ".json":
            recipe = json.loads(text)
        else:
            import yaml

            recipe = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - yaml and json raise their own types
        msg = " ".join(str(exc).split())
        raise InputError(f"RECIPE {rp}: not valid {'JSON' if rp.suffix.lower() == '.json' else 'YAML'}"
                         f" ({msg})") from None
    if not isinstance(recipe, dict) or "table" not in recipe or "steps" not in recipe:
        raise InputError(f"RECIPE {rp}: needs 'table:' (a CSV) and 'steps:' (a list)")
    table = Path(str(recipe["table"]))
    table = table if table.is_absolute() else rp.parent / table
    if not table.is_file():
        raise InputError(f"RECIPE table {table}: no such file")
    with open(table, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    columns = list(rows[0].keys()) if rows else []
    if "image" not in columns:
        raise InputError(f"table {table}: needs an 'image' column (one image per row)")
    steps = _parse_steps(recipe["steps"], columns, rp.parent)
    cases, seen = [], set()
    for i, row in enumerate(rows, start=1):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        cid = row.get("id") or _stem(row.get("image", "")) or f"case{i}"
        if cid in seen:
            raise InputError(f"table {table}: row {i}: id {cid!r} appears twice; give each "
                             "row a unique 'id'")
        if cid in (".", "..") or "/" in cid or "\\" in cid:
            raise InputError(f"table {table}: row {i}: id {cid!r} cannot name a folder")
        seen.add(cid)
        files = {k: (str((table.parent / v).resolve()) if v else "")
                 for k, v in row.items() if k != "id"}
        cases.append({"id": cid, "row": files, "ext": _extension(row.get("image", ""))})
    if not cases:
        raise InputError(f"table {table}: has no rows")
    return cases, steps


def _stem(path: str) -> str:
    from ..io import stem

    return stem(path) if path else ""


def _extension(path: str) -> str:
    from ..io import WRITE_EXTENSIONS, extension

    ext = extension(path) if path else ""
    return ext if ext in WRITE_EXTENSIONS else ".nii.gz"  # DICOM folders and the like


def _parse_steps(raw, columns, base):
    from pathlib import Path

    from ..core.base.errors import InputError

    if not isinstance(raw, list) or not raw:
        raise InputError("RECIPE steps: needs a list of {command: {option: value}}")
    steps, names = [], {}
    for i, item in enumerate(raw, start=1):
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            raise InputError(f"RECIPE steps[{i}]: write one step as {{command: {{option: "
                             f"value}}}}, got {item!r}")
        (command, options), = item.items()
        options = options or {}
        if command not in STEP_INPUTS:
            raise InputError(f"RECIPE steps[{i}]: {command!r} cannot be a batch step; use one "
                             f"of {', '.join(STEP_INPUTS)}")
        if not isinstance(options, dict):
            raise InputError(f"RECIPE steps[{i}] {command}: options must be a mapping")
        n = names.get(command, 0) + 1
        names[command] = n
        name = command if n == 1 else f"{command}{n}"
        opts = {}
        for key, value in options.items():
            key = str(key).strip().lstrip("-").replace("_", "-")
            if key in ("output", "o", "force", "quiet", "json"):
                raise InputError(f"RECIPE steps[{i}] {command}: '{key}' is set by batch itself")
            if isinstance(value, str) and value not in columns and _looks_like_file(key):
                p = Path(value)
                value = str(p if p.is_absolute() else (base / p).resolve())
            opts[key] = value
        steps.append((name, command, opts))
    # every step must parse as its command would: a bad option is a usage error now, not N
    # failed cases later
    probe = {c: "x.nii.gz" for c in columns}
    for name, command, opts in steps:
        argv = _argv(command, opts, prev="x.nii.gz", row=probe, out="x.nii.gz", columns=columns)
        _check_parses(argv, name)
    return steps


_FILE_OPTIONS = {"seeds", "gt", "markers", "mask", "model", "image", "labels", "pred",
                 "probabilities", "csv"}


def _looks_like_file(key: str) -> bool:
    return key in _FILE_OPTIONS


def _argv(command, opts, prev, row, out, columns):
    """The ``segsuite`` argument list of one step of one case."""
    from ..core.base.errors import InputError

    argv = [command]
    opts = dict(opts)
    for slot in STEP_INPUTS[command]:
        if slot == "<prev>":
            argv.append(prev)
            continue
        ref = opts.pop(slot, slot)  # e.g. gt: gt (a column), or a file
        value = row.get(ref, ref if ref != slot else None) if isinstance(ref, str) else None
        if not value:
            raise InputError(f"{command} needs {slot.upper()}: add a '{slot}' column to the "
                             f"table or name one with '{slot}: COLUMN'")
        argv.append(value)
    for key, value in opts.items():
        flag = f"--{key}"
        if isinstance(value, str) and value in columns:
            value = row.get(value) or ""
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            for v in value:
                argv += [flag, str(v)]
        else:
            argv += [flag, str(value)]
    if command in WRITES:
        argv += ["-o", out, "--force"]
    if command == "metrics":
        argv.append("--json")
    return argv + ["--quiet"]


def _check_parses(argv, name):
    import contextlib
    import io

    from ..core.base.errors import InputError
    from . import build_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit:
        lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
        msg = lines[-1] if lines else "invalid options"
        if msg.startswith("error: "):
            msg = msg[len("error: "):]
        raise InputError(f"RECIPE step {name}: {msg}") from None


# ------------------------------------------------------------------------------------------------
# one case (runs in a dask worker)
# ------------------------------------------------------------------------------------------------
def _fingerprint(case, steps) -> str:
    import hashlib
    import json
    import os

    stats = {}
    for key, path in sorted(case["row"].items()):
        try:
            st = os.stat(path)
            stats[key] = [path, st.st_size, st.st_mtime_ns]
        except OSError:
            stats[key] = [path, None, None]
    blob = json.dumps({"steps": steps, "files": stats}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _write_text(path, text: str) -> None:
    """Atomic: a temporary file in the same folder, renamed into place."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.",
                               suffix=".part", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def finished_record(case, steps, outdir):
    """The record of a case finished with these steps and inputs, or None."""
    import json
    import os

    path = os.path.join(outdir, case["id"], CASE_RECORD)
    try:
        with open(path, encoding="utf-8") as fh:
            rec = json.load(fh)
    except (OSError, ValueError):
        return None
    if rec.get("fingerprint") != _fingerprint(case, steps):
        return None
    if not all(os.path.isfile(p) for p in rec.get("outputs", [])):
        return None
    return rec


_STEP_LOCK = None


def _step_lock():
    """Steps swap sys.stdout/sys.stderr to capture a command's output: one at a time per
    process (a dask worker with several threads runs its cases' steps in turn)."""
    global _STEP_LOCK
    if _STEP_LOCK is None:
        import threading

        _STEP_LOCK = threading.Lock()
    return _STEP_LOCK


def run_step(argv):
    """Run one ``segsuite`` command in this process: ``(status, stdout, stderr)``."""
    import contextlib
    import io

    from . import main

    out, err = io.StringIO(), io.StringIO()
    with _step_lock(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse
            status = exc.code if isinstance(exc.code, int) else 2
    return status, out.getvalue(), err.getvalue()


def _error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("error:"):
            return ln[len("error:"):].strip()
    return lines[-1] if lines else "failed"


def metric_columns(result: dict, prefix: str = "") -> dict:
    """Flatten one ``segsuite metrics --json`` object into ``<label>.<figure>`` columns (and the
    top-level figures by name)."""
    cols = {}
    for label, figures in result.get("per_label", {}).items():
        for fig, value in figures.items():
            cols[f"{prefix}{label}.{fig}"] = value
    for key, value in result.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            cols[f"{prefix}{key}"] = value
    return cols


def run_case(case, steps, outdir, force=False):
    """Run one case through the steps; returns its results row (a dict). Never raises for a
    failing case: the row's ``status`` is ``failed`` and ``error`` says why."""
    import json
    import os
    import time

    from ..core.base.errors import InputError

    t0 = time.perf_counter()
    row = {"id": case["id"], "status": "done", "error": "", "seconds": 0.0}
    if not force:
        rec = finished_record(case, steps, outdir)
        if rec is not None:
            row.update(rec.get("columns", {}))
            row.update(status="skipped", seconds=rec.get("seconds", 0.0))
            return row
    folder = os.path.join(outdir, case["id"])
    columns = list(case["row"].keys())
    prev = case["row"].get("image", "")
    outputs, metrics = [], {}
    n_metrics = sum(1 for _, c, _ in steps if c == "metrics")
    try:
        os.makedirs(folder, exist_ok=True)
        try:
            os.unlink(os.path.join(folder, CASE_RECORD))  # no stale record while we work
        except FileNotFoundError:
            pass
        for name, command, opts in steps:
            out = os.path.join(folder, name + case["ext"])
            try:
                argv = _argv(command, opts, prev=prev, row=case["row"], out=out,
                             columns=columns)
            except InputError as exc:
                raise _CaseFailed(f"{name}: {exc}") from None
            status, stdout, stderr = run_step(argv)
            if status != 0:
                raise _CaseFailed(f"{name}: {_error_line(stderr)}")
            if command == "metrics":
                prefix = "" if n_metrics == 1 else f"{name}:"
                metrics.update(metric_columns(json.loads(stdout), prefix))
            if command in WRITES:
                outputs.append(out)
                prev = out
    except _CaseFailed as exc:
        row.update(status="failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - one failed case must not stop the others
        row.update(status="failed",
                   error=f"internal failure ({type(exc).__name__}: {' '.join(str(exc).split())})")
    row["seconds"] = round(time.perf_counter() - t0, 3)
    row.update(metrics)
    if row["status"] == "done":
        record = {"fingerprint": _fingerprint(case, steps), "outputs": outputs,
                  "columns": metrics, "seconds": row["seconds"]}
        _write_text(os.path.join(folder, CASE_RECORD), json.dumps(record, indent=1))
    return row


class _CaseFailed(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# the batch
# ------------------------------------------------------------------------------------------------
def write_results(path, rows) -> None:
    """``results.csv``: the fixed columns first, then the metric columns in a stable order."""
    import csv
    import io

    extra = []
    for r in rows:
        extra += [k for k in r if k not in RESULT_COLUMNS and k not in extra]
    extra.sort(key=_column_order)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(RESULT_COLUMNS) + extra, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    _write_text(str(path), buf.getvalue())


def _column_order(name: str):
    """Label columns by label value (figures in the JSON's order: the sort is stable), then the
    figures over all labels."""
    head, dot, _ = name.rpartition(".")
    try:
        return (0, int(head.rpartition(":")[2]), head.rpartition(":")[0])
    except ValueError:
        return (1, 0, name)


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from ..core.base.errors import InputError

    cases, steps = load_recipe(args.recipe)
    outdir = Path(args.output)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"OUTDIR {outdir}: cannot create it ({exc.strerror or exc})") from None
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise InputError(f"OUTDIR {outdir}: is not writable")
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError("segsuite batch needs dask.distributed: pip install distributed") \
            from None
    import logging
    import warnings

    cluster = None
    if args.scheduler:
        try:
            client = Client(args.scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--scheduler {args.scheduler}: cannot reach it "
                             f"({' '.join(str(exc).split())})") from None
    else:
        n = args.workers or os.cpu_count() or 1
        with warnings.catch_warnings():  # its HTTP server moves off a busy port 8787: fine
            warnings.filterwarnings("ignore", message="Port .* is already in use")
            workers = min(n, len(cases))
            # the cores shared out: GrowCut's sweep runs in slabs, a thread each
            # (SEGSUITE_THREADS, core/growcut/_sweep.py), so N workers use N x its threads
            from ..core.base.threads import cores

            threads = os.environ.get("SEGSUITE_THREADS") or str(max(1, cores() // workers))
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                   processes=True, dashboard_address=None,
                                   silence_logs=logging.ERROR,
                                   env={"SEGSUITE_THREADS": threads})
        client = Client(cluster)
    rows = {}
    try:
        futures = {client.submit(run_case, case, steps, str(outdir.resolve()), args.force,
                                 key=f"segsuite-case-{i}-{case['id']}", pure=False): case
                   for i, case in enumerate(cases)}
        done = 0
        for fut in as_completed(futures):
            case = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker, a killed process
                row = {"id": case["id"], "status": "failed",
                       "error": f"worker lost ({type(exc).__name__}: "
                                f"{' '.join(str(exc).split())})", "seconds": ""}
            rows[case["id"]] = row
            done += 1
            if not args.quiet:
                print(f"{done}/{len(cases)} cases: {row['id']} {row['status']}"
                      + (f" ({row['error']})" if row["error"] else ""),
                      file=sys.stderr, flush=True)
    finally:
        ordered = [rows[c["id"]] for c in cases if c["id"] in rows]
        if ordered:
            write_results(outdir / "results.csv", ordered)
        client.close()
        if cluster is not None:
            cluster.close()
    failed = [r for r in ordered if r["status"] == "failed"]
    if not args.quiet:
        print(f"wrote {outdir / 'results.csv'}: {len(ordered) - len(failed)} done or skipped, "
              f"{len(failed)} failed", file=sys.stderr)
    return 2 if failed else 0
