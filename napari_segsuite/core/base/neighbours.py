"""Neighbourhoods: the one connectivity convention users see in every method (CLI flags,
widgets, Python), and the neighbour offsets the kernels walk (written once, issue 12).

===========  ======================  ===========  ===========  ======
name         neighbours touching by  2D           3D           rank
===========  ======================  ===========  ===========  ======
``face``     a face                  4            6            1
``edge``     a face or an edge       8            18           2
``full``     anything, corners too   8            26           ndim
===========  ======================  ===========  ===========  ======

The neighbour counts are accepted as aliases of the names (as numbers or text): 4 and 8 in 2D,
6, 18 and 26 in 3D; on a 2D image the 3D counts mean the 2D ones (6 -> 4, 18 and 26 -> 8), so
``growcut --connectivity 26`` is the full neighbourhood of a slice too. In 2D ``edge`` and
``full`` are the same. Anything else is an :class:`~napari_segsuite.core.base.errors.InputError`.

Internally the kernels use the *rank* (the largest number of axes a step to a neighbour may
change: scikit-image's and scipy's ``connectivity``), which :func:`parse_connectivity` returns.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .errors import InputError

#: the canonical names, by rank - 1 (``full`` is rank ndim)
NAMES = ("face", "edge", "full")
#: every value a user may give (names and neighbour counts), e.g. for a CLI flag's choices
CHOICES = ("face", "edge", "full", 4, 6, 8, 18, 26)
#: the one-line summary for help texts
HELP = ("face (4 in 2D, 6 in 3D), edge (8 in 2D, 18 in 3D) or full (8 in 2D, 26 in 3D), or one "
        "of those neighbour counts (on a 2D image 6 means 4, 18 and 26 mean 8)")
#: widget labels, by name
LABELS = {"face": "face (4 in 2D, 6 in 3D)", "edge": "edge (8 in 2D, 18 in 3D)",
          "full": "full (8 in 2D, 26 in 3D)"}


def neighbour_count(ndim: int, rank: int) -> int:
    """How many neighbours a voxel has at ``rank`` (4/8 in 2D, 6/18/26 in 3D).

    Examples
    --------
    >>> neighbour_count(3, 2), neighbour_count(2, 2)
    (18, 8)
    """
    return int(len(offsets(ndim, rank)))


def parse_connectivity(value: Any, ndim: int) -> int:
    """The rank (1..ndim) of a connectivity given by name or neighbour count (module table).

    Parameters
    ----------
    value : str or int
        ``face``, ``edge``, ``full`` (any case) or a neighbour count (4, 8 in 2D; 6, 18, 26 in
        3D; the 3D counts in 2D mean 4 and 8), as a number or as text.
    ndim : int
        The number of spatial axes.

    Returns
    -------
    int
        The rank: 1 (face) ... ndim (full).

    Raises
    ------
    InputError
        Any other value.

    Examples
    --------
    >>> parse_connectivity("face", 3), parse_connectivity(18, 3), parse_connectivity("full", 3)
    (1, 2, 3)
    >>> parse_connectivity(26, 2), parse_connectivity("6", 2)
    (2, 1)
    """
    nd = int(ndim)
    text = str(value).strip().lower()
    if text in NAMES:
        return min(NAMES.index(text) + 1, nd) if text != "full" else nd
    try:
        count = int(text)
    except ValueError:
        count = None
    if count is not None:
        if nd == 2:
            count = {6: 4, 18: 8, 26: 8}.get(count, count)
        for rank in range(1, nd + 1):
            if neighbour_count(nd, rank) == count:
                return rank
    counts = "/".join(str(neighbour_count(nd, r)) for r in range(1, nd + 1))
    ok = ", ".join(NAMES) + " or " + counts
    raise InputError(f"connectivity {value!r} is not valid in {nd}D; use {ok}")


def connectivity_name(rank: int, ndim: int) -> str:
    """The canonical name of a rank (``full`` for rank ndim).

    Examples
    --------
    >>> connectivity_name(1, 3), connectivity_name(2, 2), connectivity_name(2, 3)
    ('face', 'full', 'edge')
    """
    return "full" if int(rank) >= int(ndim) else NAMES[int(rank) - 1]


def offsets(ndim: int, rank: int) -> np.ndarray:
    """Every neighbour step at ``rank`` (rows of -1/0/1), in C order of the 3^ndim block.

    Parameters
    ----------
    ndim : int
        The number of spatial axes.
    rank : int
        1..ndim (see :func:`parse_connectivity`): steps changing at most ``rank`` axes.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(n_neighbours, ndim)``, the centre excluded.

    Examples
    --------
    >>> offsets(2, 1).tolist()
    [[-1, 0], [0, -1], [0, 1], [1, 0]]
    >>> len(offsets(3, 3))
    26
    """
    nd, r = int(ndim), int(rank)
    if not 1 <= r <= nd:
        raise InputError(f"connectivity rank must be 1..{nd}, got {rank}")
    steps = [o for o in itertools.product((-1, 0, 1), repeat=nd)
             if any(o) and sum(abs(v) for v in o) <= r]
    return np.asarray(steps, dtype=np.int64).reshape(-1, nd)
