"""A job's parameters, defined once: default, help text, label and limits.

Each method's pipeline takes a small frozen dataclass whose fields are declared with
:func:`param`. The command line (``cli._common.add_param``: flag, default, help) and the widgets
(``widgets._params.ParamForm``: control, tooltip, remembered value, "Advanced" fold) both read
them from here, so the two cannot disagree. A job's check of them raises :class:`ParamError`,
whose message names each field by its flag on the command line and by its label in a widget.

Examples
--------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Smooth:
...     sigma: float = param(1.0, "Gaussian sigma, physical units", minimum=0.0)
>>> info(Smooth, "sigma").help
'Gaussian sigma, physical units'
>>> Smooth().sigma, Smooth(sigma=2.0).sigma
(1.0, 2.0)
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

from .errors import InputError


def param(default: Any, help: str, *, label: Optional[str] = None, flag: Optional[str] = None,
          choices: Optional[Sequence[Any]] = None, minimum: Optional[float] = None,
          maximum: Optional[float] = None, step: Optional[float] = None,
          advanced: bool = False, none_text: Optional[str] = None,
          widget_default: Any = None) -> Any:
    """A dataclass field carrying what the CLI and the widgets show for it.

    Parameters
    ----------
    default
        The default value (``None`` for "automatic": then ``none_text`` says what that means,
        e.g. ``"auto"``).
    help
        One or two sentences: what it does and why the default (argparse help, widget tooltip).
    label
        The widget's label (default: the name, capitalised, underscores as spaces).
    flag
        The CLI flag (default: ``--name-with-dashes``).
    choices, minimum, maximum, step
        Allowed values / numeric range and step (the widget's control limits; the CLI checks
        ``choices``).
    advanced
        Folded away under "Advanced" in the widget.
    none_text
        How ``None`` is shown (special value text of a spin box); default "auto".
    widget_default
        For a field whose ``default`` is None only because the CLI flag is off unless given (an
        operation's amount, e.g. ``segsuite correct --margin MM``): the value the widget's
        control starts from and resets to; that control then has no "off" value (the widget's
        button is the choice). None: the control shows ``default``.

    Returns
    -------
    dataclasses.Field
        A field whose ``metadata["segsuite"]`` holds the above.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> from typing import Optional
    >>> @dataclass(frozen=True)
    ... class P:
    ...     k: int = param(3, "number of classes", minimum=2, maximum=20)
    ...     sigma: Optional[float] = param(None, "smoothing", advanced=True)
    >>> P().k, P(k=5).k
    (3, 5)
    >>> fields = dataclasses.fields(P)
    >>> fields[0].metadata["segsuite"]["minimum"]
    2
    """
    meta = dict(help=help, label=label, flag=flag,
                choices=tuple(choices) if choices is not None else None, minimum=minimum,
                maximum=maximum, step=step, advanced=advanced, none_text=none_text,
                widget_default=widget_default)
    return dataclasses.field(default=default, metadata={"segsuite": meta})


@dataclass(frozen=True)
class ParamInfo:
    """What :func:`param` declared for one field, plus its name, default and type.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> from typing import Optional
    >>> @dataclass(frozen=True)
    ... class P:
    ...     k: int = param(3, "number of classes", minimum=2, maximum=20)
    ...     sigma: Optional[float] = param(None, "smoothing", advanced=True)
    >>> i = info(P, "sigma")
    >>> i.flag, i.label, i.optional, i.base_type, i.none_text, i.advanced
    ('--sigma', 'Sigma', True, <class 'float'>, 'auto', True)
    """

    name: str
    default: Any
    type: Any
    help: str
    label: str
    flag: str
    choices: Optional[Tuple[Any, ...]]
    minimum: Optional[float]
    maximum: Optional[float]
    step: Optional[float]
    advanced: bool
    none_text: str
    widget_default: Any = None

    @property
    def optional(self) -> bool:
        """True when ``None`` is allowed (the default is None or the type is Optional)."""
        return self.default is None or type(None) in typing.get_args(self.type)

    @property
    def base_type(self) -> Any:
        """The type without Optional: int, float, bool, str or a tuple/sequence type."""
        args = [a for a in typing.get_args(self.type) if a is not type(None)]
        if typing.get_origin(self.type) is typing.Union and len(args) == 1:
            return args[0]
        return self.type


def describe(params_cls) -> Tuple[ParamInfo, ...]:
    """Every field of a parameter dataclass (declared with :func:`param`), in order.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class P:
    ...     k: int = param(3, "number of classes", minimum=2, maximum=20)
    >>> [(i.name, i.default, i.flag, i.label) for i in describe(P)]
    [('k', 3, '--k', 'K')]
    """
    hints = typing.get_type_hints(params_cls)
    out = []
    for f in dataclasses.fields(params_cls):
        meta = f.metadata.get("segsuite")
        if meta is None:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        label = meta["label"] or (f.name.upper() if len(f.name) == 1 else
                                  f.name.replace("_", " ").capitalize())
        out.append(ParamInfo(name=f.name, default=default, type=hints.get(f.name, Any),
                             help=meta["help"], label=label,
                             flag=meta["flag"] or "--" + f.name.replace("_", "-"),
                             choices=meta["choices"], minimum=meta["minimum"],
                             maximum=meta["maximum"], step=meta["step"],
                             advanced=meta["advanced"], none_text=meta["none_text"] or "auto",
                             widget_default=meta.get("widget_default")))
    return tuple(out)


def info(params_cls, name: str) -> ParamInfo:
    """The :class:`ParamInfo` of one field (KeyError naming the field when unknown).

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> from typing import Optional
    >>> @dataclass(frozen=True)
    ... class P:
    ...     k: int = param(3, "number of classes", minimum=2, maximum=20)
    ...     sigma: Optional[float] = param(None, "smoothing", advanced=True)
    >>> info(P, "k").maximum
    20
    >>> info(P, "h")
    Traceback (most recent call last):
    ...
    KeyError: "P has no parameter 'h'"
    """
    for i in describe(params_cls):
        if i.name == name:
            return i
    raise KeyError(f"{params_cls.__name__} has no parameter {name!r}")


def defaults(params_cls) -> dict:
    """``{name: default}`` of every declared field.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> from typing import Optional
    >>> @dataclass(frozen=True)
    ... class P:
    ...     k: int = param(3, "number of classes", minimum=2, maximum=20)
    ...     sigma: Optional[float] = param(None, "smoothing", advanced=True)
    >>> defaults(P)
    {'k': 3, 'sigma': None}
    """
    return {i.name: i.default for i in describe(params_cls)}


class ParamError(InputError):
    """An :class:`InputError` about declared parameters, worded right for both front ends.

    The message is a template naming fields as ``{field}``; ``str()`` (what the CLI prints after
    ``error:``) writes each as its flag, :meth:`for_widget` (what a widget's notification shows)
    as its label in quotes, so a job's check is written once and reads right in both places.
    Other ``{key}`` values come as keyword arguments.

    Parameters
    ----------
    params_cls
        The parameter dataclass whose fields the template names.
    template
        The one-line message, e.g. ``"{k} must be at least 2, got {got}"``.
    **values
        The other placeholders' values.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Classes:
    ...     k: int = param(3, "number of classes", label="K classes")
    >>> err = ParamError(Classes, "{k} must be at least 2, got {got}", got=1)
    >>> str(err)
    '--k must be at least 2, got 1'
    >>> err.for_widget()
    "'K classes' must be at least 2, got 1"
    >>> isinstance(err, InputError)
    True
    """

    def __init__(self, params_cls, template: str, **values: Any) -> None:
        self.params_cls, self.template, self.values = params_cls, template, values
        super().__init__(self._render(lambda i: i.flag))

    def _render(self, name_of) -> str:
        names = {i.name: name_of(i) for i in describe(self.params_cls)}
        return self.template.format(**{**names, **self.values})

    def for_widget(self) -> str:
        """The message naming each field by its widget label (in quotes)."""
        return self._render(lambda i: f"'{i.label}'")
