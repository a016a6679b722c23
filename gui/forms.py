"""A config dataclass rendered as a form: one editor per field, chosen by its type and ``param`` metadata.

bool → check box, int → spin box, float → spin box (both bounded by ``low``/``high``), ``choices`` → combo box,
anything else → line edit (``engine.config.from_dict`` parses the text). Tooltips are the help strings.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QLineEdit, QSpinBox, QWidget

INT_LIMIT = 2**31 - 1
FLOAT_LIMIT = 1e9
LABELS = {"lr": "Learning rate"}
SUFFIXES = {"_p": " probability", "_s": " (s)"}


def label_for(name: str) -> str:
    """``flip_p`` → "Flip probability", ``eval_every_s`` → "Eval every (s)"."""
    if name in LABELS:
        return LABELS[name]
    suffix = next((s for s in SUFFIXES if name.endswith(s)), "")
    words = name[: len(name) - len(suffix)] if suffix else name
    return words.replace("_", " ").capitalize() + SUFFIXES.get(suffix, "")


class WheelNeedsFocus:
    """Mixin: the mouse wheel changes the value only of a focused editor, so scrolling a form changes nothing."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def wheelEvent(self, event) -> None:  # noqa: N802  (Qt override)
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # the scroll area scrolls instead


class SpinBox(WheelNeedsFocus, QSpinBox):
    pass


class ComboBox(WheelNeedsFocus, QComboBox):
    pass


class FloatSpinBox(WheelNeedsFocus, QDoubleSpinBox):
    """Shows 0.002 rather than 0.002000 and steps by a tenth of the order of magnitude of ``reference``."""

    def __init__(self, low: float, high: float, reference: float):
        super().__init__()
        self.setDecimals(6)
        self.setRange(low, high)
        self.setSingleStep(10.0 ** (math.floor(math.log10(reference)) - 1))

    def textFromValue(self, value: float) -> str:  # noqa: N802  (Qt override)
        text = super().textFromValue(value)
        point = self.locale().decimalPoint()
        return text.rstrip("0").rstrip(point) if point in text else text


@dataclass
class Editor:
    widget: QWidget
    get: Callable[[], Any]
    set: Callable[[Any], None]
    changed: Any  # the widget's value-changed signal


def make_editor(hint: Any, default: Any, meta: dict, choices: Iterable[str] | None) -> Editor:
    low, high = meta.get("low"), meta.get("high")
    if choices:
        combo = ComboBox()
        combo.addItems(list(choices))

        def select(value: Any) -> None:
            if combo.findText(str(value)) < 0:
                raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
            combo.setCurrentText(str(value))

        return Editor(combo, combo.currentText, select, combo.currentTextChanged)
    if hint is bool:
        box = QCheckBox()
        return Editor(box, box.isChecked, lambda v: box.setChecked(bool(v)), box.toggled)
    if hint is int:
        spin = SpinBox()
        spin.setRange(int(low) if low is not None else -INT_LIMIT, int(high) if high is not None else INT_LIMIT)
        return Editor(spin, spin.value, lambda v: spin.setValue(int(v)), spin.valueChanged)
    if hint is float:
        reference = next((abs(v) for v in (default, high, 1.0) if v), 1.0)
        spin = FloatSpinBox(low if low is not None else -FLOAT_LIMIT, high if high is not None else FLOAT_LIMIT,
                            reference)
        return Editor(spin, spin.value, lambda v: spin.setValue(float(v)), spin.valueChanged)
    line = QLineEdit()
    show = lambda v: line.setText(", ".join(map(str, v)) if isinstance(v, tuple) else str(v))  # noqa: E731
    return Editor(line, line.text, show, line.textChanged)


def field_default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


class ConfigForm(QWidget):
    """Editors for the fields ``names`` (default: all) of a config dataclass. ``defaults`` override the
    dataclass's own; :meth:`changes` is what differs from them, the shape a preset or ``RunConfig`` stores."""

    changed = Signal()

    def __init__(self, config_cls: type, defaults: dict[str, Any] | None = None, names: Iterable[str] | None = None,
                 choices: dict[str, Iterable[str]] | None = None, item_help: dict[str, dict[str, str]] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.layout_ = QFormLayout(self)
        self.layout_.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors: dict[str, Editor] = {}
        self._field_defaults: dict[str, Any] = {}
        hints = typing.get_type_hints(config_cls)
        wanted = None if names is None else set(names)
        for f in dataclasses.fields(config_cls):
            if wanted is not None and f.name not in wanted:
                continue
            default = field_default(f)
            options = (choices or {}).get(f.name, f.metadata.get("choices"))
            editor = make_editor(hints[f.name], default, f.metadata, options)
            for item, text in (item_help or {}).get(f.name, {}).items():
                editor.widget.setItemData(editor.widget.findText(item), text, Qt.ItemDataRole.ToolTipRole)
            self.add_row(label_for(f.name), editor.widget, f.metadata.get("help", ""))
            editor.changed.connect(self.changed)
            self.editors[f.name] = editor
            self._field_defaults[f.name] = default
        self._defaults: dict[str, Any] = {}
        self.reset(defaults)

    def add_row(self, label: str, widget: QWidget, tooltip: str) -> None:
        caption = QLabel(label)
        caption.setToolTip(tooltip)
        widget.setToolTip(tooltip)
        self.layout_.addRow(caption, widget)

    def reset(self, defaults: dict[str, Any] | None = None) -> None:
        """Show the defaults (the dataclass's, overridden by ``defaults``); they become the baseline of changes."""
        values = {**self._field_defaults, **{k: v for k, v in (defaults or {}).items() if k in self.editors}}
        self._apply(values)
        self._defaults = self.values()

    def values(self) -> dict[str, Any]:
        return {name: editor.get() for name, editor in self.editors.items()}

    def changes(self) -> dict[str, Any]:
        return {name: value for name, value in self.values().items() if value != self._defaults[name]}

    def set_values(self, values: dict[str, Any]) -> None:
        unknown = sorted(set(values) - set(self.editors))
        if unknown:
            raise ValueError(f"no setting(s) {', '.join(unknown)} here; known: {', '.join(self.editors)}")
        self._apply(values)

    def _apply(self, values: dict[str, Any]) -> None:
        """Set several editors and signal one change."""
        try:
            for name, value in values.items():
                self.editors[name].widget.blockSignals(True)
                self.editors[name].set(value)
        finally:
            for editor in self.editors.values():
                editor.widget.blockSignals(False)
        self.changed.emit()
