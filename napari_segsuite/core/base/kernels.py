"""Small numba kernels shared by several methods (one copy each).

- :func:`find_root`: union-find root with path compression (watershed's h-minima sweep and
  SLIC's connectivity enforcement).

The priority queues are not here: each flood uses a heap specialised for its keys (packed
``int64`` cost+flag keys in GrowCut and the watershed, two-key compact heaps in compact
watershed), and they share no code.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def find_root(parent, x):
    """The root of ``x`` in the union-find forest ``parent``, compressing the path walked."""
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root
