"""Metrics reports as text and files: the ``segsuite metrics --json`` text, the per-label CSV.

:mod:`napari_segsuite.core.metrics` returns plain data (a ``dict`` with NaN for undefined ratios);
this module turns it into the contract's JSON text (NaN -> ``null``) and into the per-label table
(CSV or TSV), and writes either file atomically (a temporary file in the same folder, flushed,
renamed into place; an existing file only with ``force=True``), as every output of the package.

- :func:`to_json`, :func:`nan_to_none`: the JSON text of a result.
- :data:`CSV_COLUMNS`, :func:`table_rows`, :func:`global_columns`, :func:`to_csv_text`: the table
  (the widget's "Per label" tab, its Copy button, the CSV).
- :func:`check_report_path` (fail fast, before computing), :func:`write_csv`, :func:`write_json`.

Examples
--------
>>> import numpy as np
>>> from napari_segsuite.core.metrics import compare
>>> r = compare(np.array([[0, 1, 1]]), np.array([[0, 1, 0]]), distances=False)
>>> to_json(r)[:40]
'{"labels": [1], "spacing": [1.0, 1.0], "'
>>> header, row = to_csv_text(r).splitlines()
>>> header[:30], row[:28]
('label,tp,fp,fn,tn,dice,nsd,iou', '1,1,1,0,1,0.6666666666666666')
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

import numpy as np

from ..core.base.errors import InputError
from ..core.metrics import COUNT_KEYS, DISTANCE_KEYS

PathLike = Union[str, os.PathLike]

#: Per-label columns of the table and the CSV (surface Dice beside Dice, boundary IoU beside IoU).
CSV_COLUMNS = ("label", "tp", "fp", "fn", "tn", "dice", "nsd", "iou", "boundary_iou", "precision",
               "recall", "specificity", "f1") + COUNT_KEYS + ("cldice",) + DISTANCE_KEYS
#: Figures over all labels, repeated on every CSV row (when the result has them).
GLOBAL_CSV_COLUMNS = ("kappa", "tolerance", "hd95_convention")


# ------------------------------------------------------------------------------------------------
# text
# ------------------------------------------------------------------------------------------------
def nan_to_none(obj: Any) -> Any:
    """Recursively replace float NaN (and numpy scalars) by JSON-ready values.

    Parameters
    ----------
    obj
        A result (dicts, lists, tuples, numbers, strings, nested).

    Returns
    -------
    The same structure with dict keys as strings, numpy integers as ``int``, finite floats as
    ``float`` and NaN/infinite ones as ``None``.

    Examples
    --------
    >>> nan_to_none({1: [float("nan"), np.int64(3), 0.5]})
    {'1': [None, 3, 0.5]}
    """
    if isinstance(obj, dict):
        return {str(k): nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [nan_to_none(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return None if not math.isfinite(f) else f
    return obj


def to_json(result: dict, indent: Optional[int] = None) -> str:
    """The contract's JSON text of a :func:`~napari_segsuite.core.metrics.compare` result.

    Parameters
    ----------
    result
        The result dict. Its ``"binary"`` key (how the images were compared) is not part of the
        contract and is left out.
    indent
        ``json.dumps``'s indent (None: one line, as ``segsuite metrics --json`` prints).

    Returns
    -------
    str
        Strict JSON (NaN -> ``null``).

    Examples
    --------
    >>> to_json({"labels": [1], "kappa": float("nan"), "binary": False})
    '{"labels": [1], "kappa": null}'
    """
    out = {k: v for k, v in result.items() if k != "binary"}
    return json.dumps(nan_to_none(out), indent=indent, allow_nan=False)


def global_columns(result: dict) -> List[Tuple[str, Any]]:
    """``(column, value)`` of the figures over all labels the CSV carries: kappa, the tolerance,
    the HD95 convention and, with instances, ``instances.<key>`` for the instance figures.

    Examples
    --------
    >>> global_columns({"kappa": 0.5, "per_label": {}})
    [('kappa', 0.5)]
    """
    cols = [(k, result[k]) for k in GLOBAL_CSV_COLUMNS if k in result]
    inst = result.get("instances")
    if inst:
        from ..core.metrics.instances import INSTANCE_KEYS

        cols += [(f"instances.{k}", inst.get(k)) for k in INSTANCE_KEYS]
    return cols


def table_rows(result: dict) -> List[List[Any]]:
    """One row per label in :data:`CSV_COLUMNS` order (NaN or absent -> None).

    Examples
    --------
    >>> rows = table_rows({"per_label": {"2": {"tp": 3, "dice": float("nan")}}})
    >>> rows[0][:7]
    [2, 3, None, None, None, None, None]
    """
    rows = []
    for key, m in result["per_label"].items():
        row: List[Any] = [int(key)]
        for c in CSV_COLUMNS[1:]:
            v = m.get(c)
            row.append(None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
        rows.append(row)
    return rows


def to_csv_text(result: dict, sep: str = ",") -> str:
    """CSV (or TSV with ``sep='\\t'``) text: a header and one row per label; an empty cell for
    NaN. The figures over all labels (:func:`global_columns`) are repeated on every row.

    Examples
    --------
    >>> text = to_csv_text({"per_label": {"1": {"tp": 4, "dice": 0.8}}, "kappa": 0.7})
    >>> text.splitlines()[1]
    '1,4,,,,0.8,,,,,,,,,,,,,,0.7'
    """
    def fmt(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return repr(v)
        return str(v)

    extra = global_columns(result)
    lines = [sep.join(list(CSV_COLUMNS) + [c for c, _v in extra])]
    tail = [None if isinstance(v, float) and math.isnan(v) else v for _c, v in extra]
    for row in table_rows(result):
        lines.append(sep.join(fmt(v) for v in row + tail))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------------
def check_report_path(path: PathLike, *, force: bool = False) -> Path:
    """Fail fast (InputError) on a report path that cannot be written: a folder, an existing
    file without ``force``, a missing folder. Returns the path.

    Examples
    --------
    >>> check_report_path("metrics.csv").name
    'metrics.csv'
    """
    out = Path(path)
    if out.is_dir():
        raise InputError(f"{out}: is a folder; give a file name")
    if out.exists() and not force:
        raise InputError(f"{out}: already exists; use --force to overwrite it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{out}: folder {parent} does not exist")
    return out


def _write_text(path: PathLike, text: str, force: bool) -> Path:
    """Write ``text`` atomically (see :mod:`napari_segsuite.core.base.atomic`)."""
    from ..core.base import atomic

    out = check_report_path(path, force=force)
    with atomic.staged(out) as tmp:
        try:
            with open(tmp, "w", newline="") as fh:
                fh.write(text)
            atomic.fsync(tmp)
            atomic.publish(tmp, out, force)
        except OSError as exc:
            raise InputError(f"{out}: cannot write it ({' '.join(str(exc).split())})") from None
    return out


def write_csv(path: PathLike, result: dict, *, force: bool = False, sep: str = ",") -> Path:
    """Write :func:`to_csv_text` to ``path`` atomically (temporary file in the same folder,
    renamed into place).

    Parameters
    ----------
    path
        The CSV file.
    result
        A :func:`~napari_segsuite.core.metrics.compare` result.
    force
        Replace an existing file (otherwise InputError).
    sep
        The column separator.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_csv(folder / "m.csv", {"per_label": {"1": {"tp": 1}}}).read_text().splitlines()[1]
    '1,1,,,,,,,,,,,,,,,,,'
    """
    return _write_text(path, to_csv_text(result, sep=sep), force)


def write_json(path: PathLike, result: dict, *, force: bool = False,
               indent: Optional[int] = None) -> Path:
    """Write :func:`to_json`'s text (and a newline, as ``segsuite metrics --json`` prints it) to
    ``path`` atomically; an existing file is only replaced with ``force=True``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_json(folder / "m.json", {"labels": [], "kappa": float("nan")}).read_text()
    '{"labels": [], "kappa": null}\\n'
    """
    return _write_text(path, to_json(result, indent=indent) + "\n", force)


__all__ = ["CSV_COLUMNS", "GLOBAL_CSV_COLUMNS", "nan_to_none", "to_json", "global_columns",
           "table_rows", "to_csv_text", "check_report_path", "write_csv", "write_json"]
