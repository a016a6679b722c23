"""Config dataclasses as forms: the widget per type, bounds, defaults, tooltips, and what a form reports."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from engine.data.augment import AugmentConfig
from engine.data.folder import FolderConfig
from engine.data.shapes import ShapesConfig
from engine.methods.dino import DINOConfig
from gui.forms import ConfigForm, label_for


def test_each_field_gets_the_widget_its_type_asks_for(qtbot):
    shapes = ConfigForm(ShapesConfig)
    qtbot.addWidget(shapes)
    assert isinstance(shapes.editors["train_size"].widget, QSpinBox)
    assert isinstance(shapes.editors["label"].widget, QComboBox)
    assert [shapes.editors["label"].widget.itemText(i) for i in range(2)] == ["shape", "color"]
    dino = ConfigForm(DINOConfig)
    qtbot.addWidget(dino)
    assert isinstance(dino.editors["center"].widget, QCheckBox) and dino.values()["center"] is True
    assert isinstance(dino.editors["teacher_temp"].widget, QDoubleSpinBox)
    folder = ConfigForm(FolderConfig)
    qtbot.addWidget(folder)
    assert isinstance(folder.editors["path"].widget, QLineEdit)


def test_bounds_defaults_and_help_come_from_the_param_metadata(qtbot):
    form = ConfigForm(AugmentConfig)
    qtbot.addWidget(form)
    spin = form.editors["hue"].widget
    assert (spin.minimum(), spin.maximum(), spin.value()) == (0.0, 0.5, 0.1)
    assert spin.toolTip() == "Colour jitter: hue shift drawn from [-h, h] turns" and spin.text() == "0.1"
    assert form.values()["crop_ratio"] == pytest.approx(4 / 3) and form.changes() == {}


def test_changes_are_relative_to_the_given_defaults(qtbot):
    form = ConfigForm(AugmentConfig, defaults={"jitter_p": 0.0})
    qtbot.addWidget(form)
    assert form.values()["jitter_p"] == 0.0 and form.changes() == {}
    with qtbot.waitSignal(form.changed):
        form.editors["blur_p"].widget.setValue(0.5)
    assert form.changes() == {"blur_p": 0.5}
    form.set_values({"jitter_p": 0.8})
    assert form.changes() == {"blur_p": 0.5, "jitter_p": 0.8}
    with pytest.raises(ValueError, match="no setting"):
        form.set_values({"no_such_setting": 1})


def test_labels_read_as_words():
    assert label_for("flip_p") == "Flip probability"
    assert label_for("eval_every_s") == "Eval every (s)"
    assert label_for("lr") == "Learning rate"
