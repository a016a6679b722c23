"""Lecture presets: the shipped ones are valid, a saved setup reopens identically, ``--preset`` opens ready."""
from __future__ import annotations

import json

import pytest

from engine.run import RunConfig
from gui.presets import ASSETS, Preset, PresetError, View, load_preset, save_preset

SHIPPED = sorted(ASSETS.glob("*.json"))


def effective(run: dict) -> RunConfig:
    return RunConfig.with_method_defaults(run)


def test_presets_ship_with_the_app():
    names = {p.stem for p in SHIPPED}
    assert {"simclr-shapes", "rotnet-digits"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_a_shipped_preset_shows_exactly_its_settings(window, path):
    preset = load_preset(path)
    window.apply_preset(preset)
    assert effective(window.setup.values()) == effective(preset.run)
    assert window.current_preset().view == preset.view and window.windowTitle().endswith(preset.title)


def test_a_saved_setup_reopens_identically(window, tmp_path):
    window.setup.forms["Augmentation"].editors["hue"].widget.setValue(0.35)
    window.setup.forms["Method"].editors["temperature"].widget.setValue(0.5)
    window.setup.budget.set_values(steps=123, minutes=0.0)
    window.light_action.setChecked(True)
    window.preview_dock.hide()
    saved = window.current_preset()
    save_preset(tmp_path / "lesson.json", saved)
    assert json.loads((tmp_path / "lesson.json").read_text())["run"]["augment"] == {"hue": 0.35}

    window.apply_preset(Preset({"dataset": "shapes", "method": "rotnet"}, View()))
    assert window.setup.values()["method"] == "rotnet" and window.preview_dock.toggleViewAction().isChecked()
    window.open_preset_file(tmp_path / "lesson.json")
    assert window.current_preset() == saved and effective(window.setup.values()).steps == 123


def test_a_bad_preset_is_refused_with_a_reason(window, tmp_path):
    (tmp_path / "not.json").write_text("{\"format\": \"something else\"}")
    with pytest.raises(PresetError, match="not a Pretext preset"):
        load_preset(tmp_path / "not.json")
    before = window.setup.values()
    window.apply_preset(Preset({"method": "simclr", "augment": {"no_such_setting": 1}}))
    assert window.setup.values() == before  # refused with a dialog, nothing half-applied


def test_preset_flag_opens_the_window_ready_to_start(qtbot, tmp_path, tiny_run):
    from gui.app import open_window

    path = tmp_path / "demo.json"
    save_preset(path, Preset(tiny_run, View(setup=False, presenter=True), "Tiny demo"))
    _, window = open_window(["--preset", str(path)])
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.engine_ready, timeout=60_000):
        pass
    assert window.start_action.isEnabled() and window.windowTitle() == "Pretext - Tiny demo"
    assert effective(window.setup.values()) == effective(tiny_run)
    assert not window.setup_dock.toggleViewAction().isChecked() and window.presenter_action.isChecked()
    window.presenter_action.setChecked(False)  # the application font is shared with the other tests


def test_picking_rotnet_on_shapes_gives_its_upright_world_unless_the_user_says_otherwise(window):
    from engine.build import RunConfig

    window.setup.set_values({"dataset": "shapes", "method": "rotnet"})
    assert window.setup.forms["Dataset"].values()["upright"] is True  # the form shows the method's default
    assert RunConfig.with_method_defaults(window.setup.values()).dataset_options == {"upright": True}
    window.setup.set_values({"dataset": "shapes", "method": "rotnet", "dataset_options": {"upright": False}})
    assert RunConfig.with_method_defaults(window.setup.values()).dataset_options == {"upright": False}
    window.setup.set_values({"dataset": "shapes", "method": "simclr"})
    assert window.setup.forms["Dataset"].values()["upright"] is False
