"""Crash recovery for edited label maps (napari-free): a folder per session in the user's data
directory, each label map written with its geometry by :func:`~napari_segsuite.io.write_image`.

    <recovery_dir()>/<start time>-<pid>/session.json     {"pid", "started", "closed", "layers"}
    <recovery_dir()>/<start time>-<pid>/<key>.mha        one file per edited labels layer

A session whose process is gone without having been closed (``closed`` false) crashed: the next
start offers to restore it (:func:`crashed_sessions`). ``SEGSUITE_RECOVERY_DIR`` overrides the
folder (tests). Sessions older than :data:`KEEP_DAYS` are pruned when a new one starts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import List, Optional

from ..core.base.atomic import pid_alive
from ..core.base.image import SegImage

KEEP_DAYS = 14
_FILE_EXT = ".mha"  # any dimension, direction and compression kept


def recovery_dir() -> Path:
    """The recovery folder (created on demand by :class:`Session`)."""
    env = os.environ.get("SEGSUITE_RECOVERY_DIR")
    if env:
        return Path(env)
    try:
        from platformdirs import user_data_dir

        base = Path(user_data_dir("napari-segsuite", appauthor=False))
    except ImportError:  # pragma: no cover - platformdirs comes with napari
        base = Path.home() / ".local" / "share" / "napari-segsuite"
    return base / "recovery"


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


class Session:
    """This process's recovery folder."""

    def __init__(self, root: Optional[Path] = None) -> None:
        self.root = Path(root) if root is not None else recovery_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        prune(self.root)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.folder = self.root / f"{stamp}-{os.getpid()}"
        self.folder.mkdir(exist_ok=True)
        self.info = {"pid": os.getpid(), "started": time.time(), "closed": False, "layers": {}}
        _write_json(self.folder / "session.json", self.info)

    def save(self, key: str, name: str, image: SegImage) -> Path:
        """Write one label map (atomically, replacing its previous save) and note it."""
        from . import write_image

        fname = re.sub(r"[^A-Za-z0-9_.-]+", "_", key) + _FILE_EXT
        path = write_image(self.folder / fname, image, force=True)
        self.info["layers"][key] = {"name": name, "file": fname, "saved": time.time()}
        _write_json(self.folder / "session.json", self.info)
        return path

    def close(self) -> None:
        """Mark the session as ended normally (its files stay for a manual recovery)."""
        self.info["closed"] = True
        _write_json(self.folder / "session.json", self.info)


def sessions(root: Optional[Path] = None, include_empty: bool = False) -> List[dict]:
    """Every stored session with at least one label map (``include_empty``: all), newest first;
    each dict is the session's json plus ``folder`` and ``crashed`` (closed false and its
    process gone)."""
    root = Path(root) if root is not None else recovery_dir()
    out = []
    if not root.is_dir():
        return out
    for folder in root.iterdir():
        meta = folder / "session.json"
        if not meta.is_file():
            continue
        try:
            info = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if not info.get("layers") and not include_empty:
            continue
        info["folder"] = str(folder)
        info["crashed"] = not info.get("closed") and not pid_alive(int(info.get("pid", -1)))
        out.append(info)
    out.sort(key=lambda s: s.get("started", 0), reverse=True)
    return out


def crashed_sessions(root: Optional[Path] = None) -> List[dict]:
    """Sessions that ended without closing (the process was killed or crashed)."""
    return [s for s in sessions(root) if s["crashed"]]


def load(session: dict) -> List[SegImage]:
    """The label maps of a session, with their geometry and their layer names."""
    from . import read_image

    out = []
    for key, entry in session["layers"].items():
        path = Path(session["folder"]) / entry["file"]
        if path.is_file():
            out.append(read_image(path, name=entry.get("name", key)))
    return out


def discard(session: dict) -> None:
    """Delete a session's folder (after restoring it, or when the user declines)."""
    shutil.rmtree(session["folder"], ignore_errors=True)


def prune(root: Path, keep_days: float = KEEP_DAYS) -> None:
    """Delete sessions older than ``keep_days`` whose process is gone, and ended sessions that
    saved nothing."""
    limit = time.time() - keep_days * 86400
    for s in sessions(root, include_empty=True):
        if pid_alive(int(s.get("pid", -1))):
            continue
        if s.get("started", 0) < limit or not s.get("layers"):
            discard(s)
