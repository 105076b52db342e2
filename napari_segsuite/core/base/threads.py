"""How many CPU threads a parallel kernel (torch, numba) should use right now."""

from __future__ import annotations

import os


def auto_threads() -> int:
    """The cores not already busy (``os.cpu_count()`` minus the 1-minute load average), at least
    1. Parallel threads on oversubscribed cores spin at barriers (OpenMP) and can make a kernel
    several times slower than one thread (measured: a torch training step 10-40x, our SLIC 2-3x,
    on the shared 2-core development machine), so a busy machine gets fewer threads.

    Returns
    -------
    int
        Between 1 and ``os.cpu_count()``.

    Examples
    --------
    >>> 1 <= auto_threads() <= (os.cpu_count() or 1)
    True
    """
    n = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        load = 0.0
    return int(max(1, min(n, round(n - load + 0.5))))


def cores() -> int:
    """The CPU cores this process may run on (its affinity; ``os.cpu_count()`` where the
    platform has none), at least 1.

    >>> 1 <= cores() <= (os.cpu_count() or 1)
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
