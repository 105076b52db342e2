"""core.base.params: one declaration of a job's parameters read by the CLI and the widgets."""

from __future__ import annotations

import argparse
import doctest
from dataclasses import dataclass
from typing import Optional

import pytest

from napari_segsuite.core.base import params
from napari_segsuite.core.base.params import describe, info, param
from napari_segsuite.cli._common import add_param


@dataclass(frozen=True)
class Demo:
    k: int = param(3, "number of classes", minimum=2, maximum=20)
    sigma: Optional[float] = param(None, "smoothing", none_text="automatic")
    method: str = param("otsu", "threshold", choices=("otsu", "li"))
    fast: bool = param(False, "go fast", advanced=True)


def test_declarations_are_read_back():
    names = [i.name for i in describe(Demo)]
    assert names == ["k", "sigma", "method", "fast"]
    assert info(Demo, "sigma").optional and info(Demo, "sigma").base_type is float
    assert info(Demo, "fast").advanced and info(Demo, "fast").flag == "--fast"
    assert params.defaults(Demo) == {"k": 3, "sigma": None, "method": "otsu", "fast": False}
    with pytest.raises(KeyError, match="no parameter 'x'"):
        info(Demo, "x")


def test_cli_flags_take_default_help_and_choices_from_the_declaration():
    p = argparse.ArgumentParser()
    for name in ("k", "sigma", "method", "fast"):
        add_param(p, Demo, name)
    ns = p.parse_args([])
    assert Demo(**vars(ns)) == Demo()
    ns = p.parse_args(["--k", "5", "--sigma", "1.5", "--method", "li", "--fast"])
    assert Demo(**vars(ns)) == Demo(k=5, sigma=1.5, method="li", fast=True)
    with pytest.raises(SystemExit):
        p.parse_args(["--method", "bad"])
    helps = {a.dest: a.help for a in p._actions}
    assert helps["sigma"] == "smoothing (default: automatic)"
    assert helps["k"] == "number of classes (default: 3)"


def test_docstring_examples_run():
    assert doctest.testmod(params).failed == 0
