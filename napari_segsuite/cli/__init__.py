"""The ``segsuite`` command line (see DESIGN.md for the contract).

Each subcommand lives in its own module ``napari_segsuite.cli.<name>`` that defines
``register(subparsers)`` (adds its parser and ``set_defaults(func=run)``) and ``run(args) -> int``.
Subcommand modules import only argparse and light helpers at module level: the heavy imports
(SimpleITK, scikit-*, torch) happen inside ``run`` so that ``segsuite --help`` stays fast and never
loads Qt, napari or torch.

Exit status: 0 done; 2 bad input or usage (one ``error:`` line on stderr, no traceback);
1 unexpected internal failure; 130 interrupted (Ctrl-C), with no partial output left behind.
"""

from __future__ import annotations

import argparse
import re
import importlib
import os
import sys
from typing import List, Optional

from .. import __version__

#: Subcommands, in the order ``--help`` lists them.
COMMANDS = ("sample", "growcut", "watershed", "cluster", "index", "train", "predict", "metrics",
            "correct", "batch")
#: Where a command's module is named after its core package instead (``index`` -> cli/indices.py).
MODULES = {"index": "indices"}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one ``error:`` line and exit status 2."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised through main()
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser(commands=COMMANDS) -> argparse.ArgumentParser:
    """The parser, with the subcommands ``commands`` (default: all)."""
    parser = _Parser(
        prog="segsuite",
        description="Segment 2D images and 3D volumes: GrowCut, watershed, clustering, U-Net; "
                    "compare with a ground truth. Files keep their geometry (spacing, origin, "
                    "direction).",
        epilog="Exit status: 0 done, 2 bad input or usage, 1 internal failure.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in commands:
        try:
            module = importlib.import_module(f"{__name__}.{MODULES.get(name, name)}")
        except ModuleNotFoundError as exc:  # a subcommand not built into this install
            if exc.name != f"{__name__}.{MODULES.get(name, name)}":
                raise
            continue
        module.register(sub)
    for command in sub.choices.values():
        _escape_percent(command)
    return parser


def _escape_percent(parser: argparse.ArgumentParser) -> None:
    """Help texts come from the parameter declarations, written as prose ("1% of the voxels");
    argparse formats them with ``%``: a lone ``%`` would crash ``--help``."""
    for action in parser._actions:
        if action.help and "%" in action.help:
            action.help = re.sub(r"%(?!\()", "%%", action.help)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``segsuite``; returns the exit status."""
    from ..core.base import atomic
    from ..core.base.errors import Cancelled, InputError

    atomic.forget()
    argv = sys.argv[1:] if argv is None else list(argv)
    # a named command needs only its own parser: registering every command imports every
    # method's parameters (watershed, clustering, corrections, ... and scipy.ndimage)
    parser = build_parser((argv[0],) if argv and argv[0] in COMMANDS else COMMANDS)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        with _warnings_as_lines():
            return int(args.func(args) or 0)
    except InputError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Cancelled):
        published, landed = atomic.outcome()
        done = published + ([landed] if landed is not None else [])
        if done:  # the truth: a file published before the interrupt is there and complete
            print(f"error: interrupted after writing {', '.join(str(p) for p in done)} "
                  "(complete)", file=sys.stderr)
        else:
            print("error: interrupted; no output was written", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try a smaller image, a region of interest or fewer "
              "channels", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the contract: exit 1, one line, no traceback
        if os.environ.get("SEGSUITE_DEBUG"):
            raise
        print(f"error: internal failure ({type(exc).__name__}: {' '.join(str(exc).split())}); "
              "rerun with SEGSUITE_DEBUG=1 for the traceback", file=sys.stderr)
        return 1


def _warnings_as_lines():
    """InputWarnings from the core become one ``warning:`` line on stderr (even with --quiet:
    the user must know); other warnings as Python shows them."""
    import contextlib
    import warnings

    from ..core.base.errors import InputWarning

    @contextlib.contextmanager
    def ctx():
        with warnings.catch_warnings():
            warnings.simplefilter("always", InputWarning)
            shown = warnings.showwarning

            def show(message, category, filename, lineno, file=None, line=None):
                if issubclass(category, InputWarning):
                    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)
                else:
                    shown(message, category, filename, lineno, file, line)

            warnings.showwarning = show
            yield

    return ctx()


def entry() -> None:  # console_scripts entry point
    sys.exit(main())
