"""numba's on-disk cache: a second process loads every kernel and compiles nothing (issue 18).

Each test runs ``_numba_probe.py`` in fresh subprocesses and reads numba's own cache statistics
(``dispatcher.stats.cache_hits / cache_misses``) and the cache folder's files; no timings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("_numba_probe.py")


def _env(pythonpath: Path = ROOT, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["PYTHONPATH"] = str(pythonpath) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _probe(what: str, env: dict, prefix=(), cwd=None) -> dict:
    out = subprocess.run([*prefix, sys.executable, str(PROBE), what], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _files(folder) -> dict:
    """name -> (size, mtime_ns) of every file below ``folder``."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def _compiled(kernels: dict) -> dict:
    """The kernels called from Python (inlined helpers and helpers only other kernels call
    are compiled into their callers)."""
    return {k: v for k, v in kernels.items() if not (v["inline"] or v["helper"])}


def _assert_all_loaded(first: dict, second: dict) -> None:
    """``first``: a process that compiled or loaded everything; ``second``: a later one."""
    missing = [k for k, v in _compiled(first["kernels"]).items() if v["signatures"] == 0]
    assert not missing, f"kernels no warm-up or probe uses (add them to a warm_up): {missing}"
    compiled = {k: v["misses"] for k, v in second["kernels"].items() if v["misses"]}
    assert not compiled, f"compiled again in a second process: {compiled}"
    loaded = [k for k, v in _compiled(second["kernels"]).items() if v["hits"]]
    assert loaded, "nothing was loaded from the cache"
    for k in ("refined", "labels_sum", "labels_n2"):
        assert first[k] == second[k]


def test_growcut_second_process_compiles_nothing(tmp_path):
    """The bug: the sweep's kernels were closures; every process compiled them again and
    wrote another pair of cache files under a new index."""
    cache = tmp_path / "numba-cache"
    env = _env(NUMBA_CACHE_DIR=cache)
    first = _probe("growcut", env)
    assert sum(v["misses"] for v in first["kernels"].values()) >= 2  # it did compile here
    files = _files(cache)
    assert files
    second = _probe("growcut", env)
    _assert_all_loaded(first, second)
    assert _files(cache) == files  # no new file, none rewritten
    assert all(v["cache_path"].startswith(str(cache)) for v in second["kernels"].values())


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_every_kernel_loads_from_the_default_cache():
    """Every numba kernel of the package (flood, h-minima, SLIC, GrowCut), the warm-ups the
    widgets run included, where numba caches them for this installation (no NUMBA_CACHE_DIR:
    next to the sources, or the user cache folder when that is read-only). The first process
    compiles whatever is not cached yet (or loads it); the second must load everything and
    leave the cache folders exactly as they were."""
    env = _env()
    first = _probe("all", env)
    folders = {v["cache_path"] for v in first["kernels"].values()}
    before = {f: _files(f) for f in folders}
    second = _probe("all", env)
    _assert_all_loaded(first, second)
    assert {f: _files(f) for f in folders} == before


@pytest.mark.slow
def test_concurrent_first_use_does_not_corrupt_the_cache(tmp_path):
    """Two processes compile into the same empty cache at the same time (batch workers on a
    fresh install): numba writes each file to a temporary name and renames it, so both finish
    with the right labels, and a third process loads everything and compiles nothing."""
    cache = tmp_path / "numba-cache"
    env = _env(NUMBA_CACHE_DIR=cache)
    procs = [subprocess.Popen([sys.executable, str(PROBE), "growcut"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    results = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    assert not [p for p in _files(cache) if ".tmp." in p]  # no temporary file left behind
    files = _files(cache)
    third = _probe("growcut", env)
    for first in results:
        _assert_all_loaded(first, third)
    assert _files(cache) == files


def _readonly_prefix():
    """How to run a process that cannot write a read-only folder: ourselves when not root;
    as root, an unprivileged user namespace (``unshare --user``), where root's files obey their
    permission bits. None when neither works here."""
    if os.geteuid() != 0:
        return ()
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    prefix = (unshare, "--user", "--map-user=1000")
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return prefix if ok else None


def test_readonly_installation_uses_the_user_cache(tmp_path):
    """An installation nobody may write to (site-packages owned by root): numba cannot write
    ``__pycache__`` next to the sources and falls back to the user's cache folder
    (``$XDG_CACHE_HOME/numba``); the second process loads from there. Run on a read-only copy
    of the package."""
    prefix = _readonly_prefix()
    if prefix is None:
        pytest.skip("running as root without unprivileged user namespaces: a read-only folder "
                    "cannot be made here")
    site = tmp_path / "site"
    shutil.copytree(ROOT / "napari_segsuite", site / "napari_segsuite",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pt", "models"))
    user_cache = tmp_path / "user-cache"
    user_cache.mkdir()
    os.chmod(user_cache, 0o777)
    try:
        for p in [site, *site.rglob("*")]:
            os.chmod(p, p.stat().st_mode & ~0o222)
        env = _env(site, XDG_CACHE_HOME=user_cache, HOME=tmp_path)
        first = _probe("growcut", env, prefix, cwd=tmp_path)
        assert not list(site.rglob("__pycache__"))  # really read-only
        paths = {v["cache_path"] for v in first["kernels"].values()}
        assert all(p.startswith(str(user_cache / "numba")) for p in paths), paths
        files = _files(user_cache)
        assert files
        second = _probe("growcut", env, prefix, cwd=tmp_path)
        _assert_all_loaded(first, second)
        assert _files(user_cache) == files
    finally:
        for p in [site, *site.rglob("*")]:
            os.chmod(p, p.stat().st_mode | 0o200)
