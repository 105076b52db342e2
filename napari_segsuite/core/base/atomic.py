"""Writing files safely: a temporary file next to the target, verified, then published.

Every file napari-segsuite writes (images, model checkpoints, CSV tables) goes through here:

- :func:`temp_dir` makes a hidden folder ``.segsuite-tmp-<host>-<pid>-<random>`` in the target's
  folder (same file system, so publishing is a rename/link, never a copy). The host and process
  id in the name let a later run remove what a killed process left behind: :func:`clean_stale`
  (called by :func:`temp_dir`) deletes such folders of processes of this host that no longer
  run.
- :func:`publish` puts the finished, verified temporary file in place: without ``force`` by
  ``os.link`` (fails when the target exists, however recently it appeared: two runs racing
  for the same output cannot both win, and neither replaces the other), with ``force`` by
  ``os.replace`` (atomic: readers see the old file or the new one, never a part). Where the file
  system has no hard links, an exclusive create (``O_EXCL``) reserves the name first.
- :func:`fsync` flushes a file to the disk before it is published, so a full disk is reported
  while the old file is still in place.
- :func:`outcome` tells an interrupt handler the truth: which files this process published and
  whether one was in the middle of being published (then it checks whether it landed).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple

from .errors import InputError

PREFIX = ".segsuite-tmp-"
_STALE = re.compile(r"^\.segsuite-tmp-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-")

#: files published by this process (absolute paths), for the interrupt message
_PUBLISHED: List[Path] = []
#: (target, device, inode) of the file being published right now
_PENDING: Optional[Tuple[Path, int, int]] = None


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname() or "host")[:40] or "host"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (this process counts; one we may not signal
    counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: the process exists but is not ours
        return True
    return True


def clean_stale(folder) -> List[Path]:
    """Remove the temporary folders in ``folder`` left by processes of this host that no longer
    run (killed during a write). Returns what was removed; errors are ignored (a folder we may
    not read or change is simply left alone).

    Parameters
    ----------
    folder : str or Path
        The folder to clean.

    Returns
    -------
    list of Path

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / f"{PREFIX}{_host()}-999999999-x").mkdir()  # a process that cannot exist
    >>> [p.name.endswith("-999999999-x") for p in clean_stale(d)], list(d.iterdir())
    ([True], [])
    """
    removed = []
    host = _host()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _STALE.match(entry.name)
        if not m or m.group("host") != host or pid_alive(int(m.group("pid"))):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def temp_dir(folder, what: str = "") -> Path:
    """A new hidden temporary folder inside ``folder`` (stale ones cleaned first).
    ``what`` names the target in the error message when the folder cannot be made.

    Parameters
    ----------
    folder : str or Path
        Where to make it ("" is the working folder).
    what : str
        The target named in the error message.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        The folder cannot be made (read-only, full, missing).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> t = temp_dir(d)
    >>> t.parent == d, t.name.startswith(PREFIX)
    (True, True)
    """
    folder = Path(folder) if str(folder) else Path(".")
    clean_stale(folder)
    try:
        return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{_host()}-{os.getpid()}-", dir=folder))
    except OSError as exc:  # e.g. a read-only file system, a full disk
        raise InputError(f"{what or folder}: cannot write it ({_one_line(exc)})") from None


@contextmanager
def staged(dest) -> Iterator[Path]:
    """The temporary path to write ``dest`` at: a file of the same name in a new hidden folder
    beside it (:func:`temp_dir`), removed with whatever is left in it when the block ends. Write,
    :func:`fsync` and :func:`publish` it inside the block; an error leaves nothing behind.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with staged(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("x")
    ...     _ = publish(tmp, d / "a.txt")
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt']
    """
    dest = Path(dest)
    tmpdir = temp_dir(dest.parent, str(dest))
    try:
        yield tmpdir / dest.name
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def check_folder(folder, what: str = "") -> None:
    """Fail fast (InputError) when nothing can be written into ``folder``: a temporary folder
    is made and removed there, the true test (permissions, read-only mounts, a full disk of
    inodes). Stale temporary folders of dead processes are cleaned on the way.

    Raises
    ------
    InputError
        Nothing can be written there.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> check_folder(d)
    >>> list(d.iterdir())
    []
    >>> check_folder(d / "missing", "out.tif")
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.errors.InputError: out.tif: cannot write it (...)
    """
    shutil.rmtree(temp_dir(folder, what), ignore_errors=True)


def fsync(path) -> None:
    """Flush a written file to the disk (a full disk shows here at the latest).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a.txt").write_text("x")
    >>> fsync(d / "a.txt")
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


def publish(tmp, dest, force: bool = False) -> Path:
    """Move the finished file ``tmp`` to ``dest``: exclusively (``dest`` must not exist, even
    if it appeared a moment ago) unless ``force``, then atomically replacing it.
    InputError when ``dest`` exists without ``force``.

    Parameters
    ----------
    tmp : str or Path
        The finished file (same file system as ``dest``).
    dest : str or Path
        The target.
    force : bool
        Replace an existing ``dest``.

    Returns
    -------
    Path
        ``dest``.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "tmp.txt").write_text("new")
    >>> publish(d / "tmp.txt", d / "out.txt").name
    'out.txt'
    >>> _ = (d / "tmp.txt").write_text("newer")
    >>> publish(d / "tmp.txt", d / "out.txt")
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.errors.InputError: ...out.txt: already exists ...
    >>> _ = publish(d / "tmp.txt", d / "out.txt", force=True)
    >>> (d / "out.txt").read_text()
    'newer'
    """
    global _PENDING
    tmp, dest = Path(tmp), Path(dest)
    st = os.stat(tmp)
    _PENDING = (dest.absolute(), st.st_dev, st.st_ino)
    try:
        if force:
            os.replace(tmp, dest)
        else:
            _link_exclusive(tmp, dest)
        _PUBLISHED.append(dest.absolute())
    finally:
        _PENDING = None
    return dest


def _link_exclusive(tmp: Path, dest: Path) -> None:
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise InputError(f"{dest}: already exists (written meanwhile by another program?); use "
                         "--force to overwrite it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS,
                             errno.EMLINK):
            raise
        # no hard links here (FAT, some network file systems): reserve the name exclusively,
        # then replace the (empty) reservation atomically
        try:
            os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise InputError(f"{dest}: already exists (written meanwhile by another "
                             "program?); use --force to overwrite it") from None
        os.replace(tmp, dest)
        return
    os.unlink(tmp)


def unpublish(dest) -> None:
    """Remove a file this process published (e.g. the data file of a two-file format whose
    header could not be published); anything else is left alone.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "tmp.raw").write_text("x")
    >>> _ = publish(d / "tmp.raw", d / "a.raw")
    >>> unpublish(d / "a.raw")
    >>> list(d.iterdir())
    []
    """
    dest = Path(dest).absolute()
    if dest in _PUBLISHED:
        try:
            dest.unlink()
        except OSError:
            pass
        _PUBLISHED.remove(dest)


def outcome() -> Tuple[List[Path], Optional[Path]]:
    """For an interrupt handler: (files this process published, the file whose publication
    was interrupted if it nevertheless landed, else None).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "tmp.txt").write_text("x")
    >>> dest = publish(d / "tmp.txt", d / "out.txt")
    >>> published, landed = outcome()
    >>> dest.absolute() in published, landed
    (True, None)
    """
    landed = None
    pending = _PENDING
    if pending is not None:
        dest, dev, ino = pending
        try:
            st = os.stat(dest)
            if (st.st_dev, st.st_ino) == (dev, ino):
                landed = dest
        except OSError:
            pass
    return list(_PUBLISHED), landed


def forget() -> None:
    """Reset the record of published files (the start of a new command).

    Examples
    --------
    >>> forget()
    >>> outcome()
    ([], None)
    """
    global _PENDING
    _PUBLISHED.clear()
    _PENDING = None


__all__ = ["PREFIX", "clean_stale", "temp_dir", "check_folder", "fsync", "publish", "unpublish",
           "outcome", "forget"]
