"""One form helper for every widget: labelled controls built from a job's parameter dataclass.

A pipeline's ``<Job>Params`` declares each field once with
:func:`napari_segsuite.core.base.params.param` (default, help, label, choices, limits,
``advanced``, ``none_text``). :class:`ParamForm` turns those declarations into Qt controls, so
the widget shows the same defaults, limits and help as ``segsuite --help``:

- ``int`` -> QSpinBox, ``float`` -> QDoubleSpinBox (decimals from the step), ``bool`` ->
  QCheckBox, anything with ``choices`` -> QComboBox, ``Optional[int/float]`` -> a spin box whose
  lowest value is shown as ``none_text`` ("auto") and means ``None``; tuples and other types ->
  a QLineEdit parsed back (``"1, 2, 3"``).
- the help text and the default are the tooltip (and What's This); ``advanced=True`` fields fold away under an
  "Advanced" toggle (folded by default);
- values are remembered between sessions in ``QSettings("napari-segsuite", "widgets")`` (INI
  format) under ``<settings_key>/<field>``; "Reset to defaults" restores and forgets them; a
  stored value that no longer fits the declaration falls back to the default with one warning.
- a field declared with ``widget_default`` (an operation's amount whose CLI default None means
  "not chosen") shows and resets to that value and has no "off" value;
- several forms may show different fields of one dataclass under one ``settings_key`` (e.g. one
  per tab, ``show_reset=False`` and one "Reset to defaults" of the widget calling each
  :meth:`ParamForm.reset`); ``choice_texts`` gives a combo's items readable texts.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import logging
import math
import typing
from typing import Any, Dict, List, Optional, Sequence

from qtpy.QtCore import QSettings, Qt, Signal
from qtpy.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout,
                            QLabel, QLineEdit, QPushButton, QSizePolicy, QSpinBox, QToolButton,
                            QVBoxLayout, QWidget)

from ..core.base.errors import InputError
from ..core.base.params import ParamInfo, describe

log = logging.getLogger(__name__)

ORGANIZATION, APPLICATION = "napari-segsuite", "widgets"
_INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int
_FLOAT_LIMIT = 1e9  # no declared limit: wide, but a spin box of sensible width


def settings() -> QSettings:
    """The widgets' remembered settings (INI format, user scope; tests redirect it with
    ``QSettings.setPath``)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION,
                     APPLICATION)


def _decimals_needed(x: Optional[float]) -> int:
    if x is None or not math.isfinite(x):
        return 0
    for d in range(9):
        if abs(round(x, d) - x) <= 1e-12 * max(1.0, abs(x)):
            return d
    return 8


def _float_step(i: ParamInfo) -> float:
    if i.step:
        return float(i.step)
    d = i.default if isinstance(i.default, (int, float)) and i.default else None
    return 10.0 ** (math.floor(math.log10(abs(d))) - 1) if d else 0.1


def _elem_types(tp) -> Optional[List[Any]]:
    """Element types of a tuple annotation: ``Tuple[float, ...]`` -> [float, ...],
    ``Tuple[int, int]`` -> [int, int]; None when unknown (then each item is a literal)."""
    args = list(typing.get_args(tp))
    if typing.get_origin(tp) in (tuple, list) or tp in (tuple, list):
        return args or None
    return None


def tooltip(i: ParamInfo) -> str:
    """The help text and the default, as ``segsuite --help`` shows them: "HELP (default: X)"."""
    d = i.default
    if d is None:
        shown = i.none_text
    elif isinstance(d, bool):
        shown = "on" if d else "off"
    elif isinstance(d, (tuple, list)):
        shown = ", ".join(map(str, d)) or "none"
    else:
        shown = str(d)
    return f"{i.help} (default: {shown})"


def _for_widget(i: ParamInfo) -> ParamInfo:
    """The declaration as the form shows it: a ``widget_default`` replaces the default None and
    the control gets no "off" value."""
    if i.widget_default is None:
        return i
    return dataclasses.replace(i, default=i.widget_default, type=i.base_type)


class _AutoStep:
    """Spin box mixin: one step up from the special "auto" value (None) lands on ``first``
    (the declared minimum, else 0), not next to the far-away sentinel."""

    first: Any = None

    def stepBy(self, steps: int) -> None:  # noqa: N802 (Qt's name)
        if (self.first is not None and steps > 0 and self.specialValueText()
                and self.value() == self.minimum()):
            self.setValue(min(self.first, self.maximum()))
            steps -= 1
        if steps:
            super().stepBy(steps)


class _SpinBox(_AutoStep, QSpinBox):
    pass


class _DoubleSpinBox(_AutoStep, QDoubleSpinBox):
    pass


class ParamForm(QWidget):
    """Labelled controls for the fields of a parameter dataclass, remembered between sessions.

    Parameters
    ----------
    params_cls
        A dataclass whose fields are declared with ``core.base.params.param``.
    names
        The fields to show, in this order (default: every declared field, in declaration order).
    settings_key
        Where the values are remembered (``QSettings`` group), e.g. ``"watershed"``.
    choice_texts
        ``{field: {choice: text}}``: what a combo shows for some choices (default: the value).
    show_reset
        Show the form's own "Reset to defaults" button (False where the widget has one for
        several forms).
    parent
        The parent widget.

    ``changed`` is emitted with the field's name whenever a value changes (by the user, by
    :meth:`set_value`/:meth:`set_params` or by "Reset to defaults").
    """

    changed = Signal(str)

    def __init__(self, params_cls, names: Optional[Sequence[str]] = None, *,
                 settings_key: str, choice_texts: Optional[Dict[str, Dict[Any, str]]] = None,
                 show_reset: bool = True, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        if not settings_key:
            raise ValueError("ParamForm needs a settings_key (where its values are remembered)")
        self.params_cls = params_cls
        self.settings_key = settings_key
        infos = {i.name: i for i in describe(params_cls)}
        if names is None:
            names = list(infos)
        unknown = [n for n in names if n not in infos]
        if unknown:
            raise KeyError(f"{params_cls.__name__} has no parameter {unknown[0]!r}")
        self.names = tuple(names)
        self._info: Dict[str, ParamInfo] = {n: _for_widget(infos[n]) for n in self.names}
        self._choice_texts = dict(choice_texts or {})
        self._controls: Dict[str, QWidget] = {}
        self._labels: Dict[str, QLabel] = {}
        self._hidden: set = set()
        self._loading = False

        self._basic = QFormLayout()
        self._advanced_box = QWidget()
        self._advanced = QFormLayout(self._advanced_box)
        self._advanced.setContentsMargins(0, 0, 0, 0)
        self.advanced_button = QToolButton()
        self.advanced_button.setObjectName("advanced")
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setChecked(False)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.setToolTip("show or hide the advanced options")
        self.advanced_button.toggled.connect(self._fold)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setObjectName("reset")
        self.reset_button.setToolTip("put every option of this form back to its default and "
                                     "forget the remembered values")
        self.reset_button.clicked.connect(self.reset)
        self.reset_button.setVisible(show_reset)

        for name in self.names:
            i = self._info[name]
            control = self._make_control(i)
            control.setObjectName(name)
            tip = tooltip(i)
            control.setToolTip(tip)
            control.setWhatsThis(tip)
            label = QLabel(i.label)
            label.setToolTip(tip)
            label.setBuddy(control)
            self._controls[name] = control
            self._labels[name] = label
            (self._advanced if i.advanced else self._basic).addRow(label, control)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._basic)
        layout.addWidget(self.advanced_button)
        layout.addWidget(self._advanced_box)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.reset_button)
        layout.addLayout(row)
        self._fold(False)
        self._update_advanced_button()

        self._load()
        for name in self.names:
            self._connect(name)

    # -- building ------------------------------------------------------------------------------
    def _make_control(self, i: ParamInfo) -> QWidget:
        tp = i.base_type
        if i.choices is not None:
            w = QComboBox()
            if i.optional and None not in i.choices:
                w.addItem(i.none_text, None)
            texts = self._choice_texts.get(i.name, {})
            for c in i.choices:
                w.addItem(texts.get(c, i.none_text if c is None else str(c)), c)
            return w
        if tp is bool:
            w = QCheckBox()  # only the box: a click beside it (on nothing) does not toggle it
            w.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            return w
        if tp is int:
            w = _SpinBox()
            lo = int(i.minimum) if i.minimum is not None else -_INT_LIMIT + 1
            hi = int(i.maximum) if i.maximum is not None else _INT_LIMIT
            step = int(i.step) if i.step else 1
            if i.optional:  # the value below the minimum means None
                lo = lo - step if i.minimum is not None else -_INT_LIMIT
                w.setSpecialValueText(i.none_text)
                w.first = int(i.minimum) if i.minimum is not None else 0
            w.setRange(lo, hi)
            w.setSingleStep(step)
            return w
        if tp is float:
            w = _DoubleSpinBox()
            step = _float_step(i)
            decimals = max(2, _decimals_needed(step), _decimals_needed(i.minimum),
                           _decimals_needed(i.maximum),
                           _decimals_needed(i.default if isinstance(i.default, (int, float))
                                            else None))
            w.setDecimals(min(decimals, 8))
            lo = float(i.minimum) if i.minimum is not None else -_FLOAT_LIMIT
            hi = float(i.maximum) if i.maximum is not None else _FLOAT_LIMIT
            if i.optional:
                lo = round(lo - step, w.decimals()) if i.minimum is not None else -_FLOAT_LIMIT
                w.setSpecialValueText(i.none_text)
                w.first = float(i.minimum) if i.minimum is not None else 0.0
            w.setRange(lo, hi)
            w.setSingleStep(step)
            return w
        w = QLineEdit()
        if i.optional:
            w.setPlaceholderText(i.none_text)
        return w

    def _connect(self, name: str) -> None:
        w = self._controls[name]
        slot = lambda *_: self._on_change(name)  # noqa: E731
        if isinstance(w, QComboBox):
            w.currentIndexChanged.connect(slot)
        elif isinstance(w, QCheckBox):
            w.toggled.connect(slot)
        elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
            w.valueChanged.connect(slot)
        else:
            w.textChanged.connect(slot)

    # -- reading and writing one control -------------------------------------------------------
    def _read(self, name: str) -> Any:
        i, w = self._info[name], self._controls[name]
        if isinstance(w, QComboBox):
            return w.currentData()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            return None if i.optional and w.value() == w.minimum() else int(w.value())
        if isinstance(w, QDoubleSpinBox):
            if i.optional and w.value() == w.minimum():
                return None
            return round(float(w.value()), w.decimals())
        return self._parse(i, w.text())

    def _parse(self, i: ParamInfo, text: str) -> Any:
        text = text.strip()
        if not text and i.optional:
            return None
        tp = i.base_type
        if tp is str:
            return text
        try:
            elems = _elem_types(tp)
            if elems is not None or tp in (tuple, list):
                items = text.strip("()[]").replace(",", " ").split()
                if elems and len(elems) == 2 and elems[1] is Ellipsis:
                    elems = [elems[0]] * len(items)
                if elems and len(elems) != len(items):
                    raise ValueError(f"{len(elems)} values expected")
                conv = [(t if t in (int, float, str) else ast.literal_eval)
                        for t in (elems or [ast.literal_eval] * len(items))]
                return tuple(c(s) for c, s in zip(conv, items))
            if tp in (int, float):
                return tp(text)
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError) as exc:
            raise InputError(f"{i.label}: cannot read {text!r} ({exc})") from None

    @staticmethod
    def _format(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, (tuple, list)):
            return ", ".join(str(v) for v in value)
        return str(value)

    def _write(self, name: str, value: Any) -> None:
        """Show ``value`` in the control; ValueError when it does not fit the declaration."""
        i, w = self._info[name], self._controls[name]
        if value is None and not i.optional:
            raise ValueError(f"{name} cannot be None")
        if isinstance(w, QComboBox):
            idx = next((k for k in range(w.count()) if w.itemData(k) == value
                        and type(w.itemData(k)) is type(value)), -1)
            if idx < 0:
                raise ValueError(f"{name}: {value!r} is not one of {i.choices}")
            w.setCurrentIndex(idx)
        elif isinstance(w, QCheckBox):
            if not isinstance(value, bool):
                raise ValueError(f"{name}: {value!r} is not a bool")
            w.setChecked(value)
        elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
            if value is None:
                w.setValue(w.minimum())
                return
            want = int if isinstance(w, QSpinBox) else (int, float)
            if isinstance(value, bool) or not isinstance(value, want):
                raise ValueError(f"{name}: {value!r} is not a number of the right type")
            if (value < w.minimum() or value > w.maximum()
                    or (i.minimum is not None and value < i.minimum)
                    or (i.optional and value == w.minimum())):
                raise ValueError(f"{name}: {value!r} is outside the limits "
                                 f"{i.minimum}..{i.maximum}")
            w.setValue(value)
        else:
            if isinstance(value, list):
                value = tuple(value)
            text = self._format(value)
            self._parse(i, text)  # raises InputError when it would not read back
            w.setText(text)

    # -- remembered settings -------------------------------------------------------------------
    def _key(self, name: str) -> str:
        return f"{self.settings_key}/{name}"

    def _load(self) -> None:
        store = settings()
        self._loading = True
        try:
            for name in self.names:
                self._write(name, self._info[name].default)
                raw = store.value(self._key(name))
                if raw is None:
                    continue
                try:
                    if not isinstance(raw, str):
                        raise ValueError(f"not a stored JSON text: {raw!r}")
                    self._write(name, json.loads(raw))
                except (ValueError, TypeError, InputError) as exc:
                    log.warning("napari-segsuite: ignoring the remembered %s (%s); using the "
                                "default", self._key(name), exc)
                    self._write(name, self._info[name].default)
        finally:
            self._loading = False

    def _save(self, name: str) -> None:
        store = settings()
        try:
            store.setValue(self._key(name), json.dumps(self._read(name)))
        except InputError:  # text that does not read: the next session starts from the default
            store.remove(self._key(name))
        store.sync()

    def _on_change(self, name: str) -> None:
        if self._loading:  # loading or resetting: saved (or forgotten) by the caller
            return
        self._save(name)
        self.changed.emit(name)

    # -- public API ----------------------------------------------------------------------------
    def control(self, name: str) -> QWidget:
        """The control of field ``name`` (its objectName is the field name)."""
        try:
            return self._controls[name]
        except KeyError:
            raise KeyError(f"this form has no parameter {name!r}") from None

    def value(self, name: str) -> Any:
        """The current value of one field (InputError for text that does not read)."""
        self.control(name)
        return self._read(name)

    def params(self, **overrides):
        """A ``params_cls`` instance from the controls; ``overrides`` replace some fields (and
        may name fields the form does not show). InputError when a text field does not read."""
        values = {name: self._read(name) for name in self.names}
        values.update(overrides)
        return self.params_cls(**values)

    def set_value(self, name: str, value: Any) -> None:
        """Show ``value`` in field ``name`` (remembered, ``changed`` emitted); ValueError when
        it does not fit the declaration (type, choices, limits)."""
        self.control(name)
        self._write(name, value)

    def set_params(self, p) -> None:
        """Show every field of the form from the parameter instance ``p``."""
        for name in self.names:
            self._write(name, getattr(p, name))

    def reset(self) -> None:
        """Every field back to its declared default; the remembered values are forgotten."""
        before = {name: self._read_or_none(name) for name in self.names}
        self._loading = True
        try:
            for name in self.names:
                self._write(name, self._info[name].default)
        finally:
            self._loading = False
        store = settings()
        for name in self.names:
            store.remove(self._key(name))
        store.sync()
        for name in self.names:
            if before[name] != self._read_or_none(name):
                self.changed.emit(name)

    def _read_or_none(self, name: str) -> Any:
        try:
            return self._read(name)
        except InputError:
            return None

    def set_visible(self, name: str, visible: bool) -> None:
        """Show or hide one field (label and control), e.g. options of another mode."""
        self.control(name)
        if visible:
            self._hidden.discard(name)
        else:
            self._hidden.add(name)
        self._labels[name].setVisible(visible)
        self._controls[name].setVisible(visible)
        self._update_advanced_button()

    def is_advanced_open(self) -> bool:
        """True when the "Advanced" section is unfolded."""
        return self.advanced_button.isChecked()

    # -- the Advanced fold ---------------------------------------------------------------------
    def _fold(self, open_: bool) -> None:
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if open_
                                          else Qt.ArrowType.RightArrow)
        self._advanced_box.setVisible(open_)

    def _update_advanced_button(self) -> None:
        shown = [n for n in self.names if self._info[n].advanced and n not in self._hidden]
        self.advanced_button.setVisible(bool(shown))
        self._advanced_box.setVisible(bool(shown) and self.advanced_button.isChecked())


__all__ = ["ParamForm", "settings"]
