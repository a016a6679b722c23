"""The setup panel: dataset and method pickers, their settings, the augmentations, training and budget.

:meth:`SetupPanel.values` is the run as ``RunConfig.with_method_defaults`` reads it, and as a preset stores it:
the pickers, what differs from the defaults, and the budget.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QScrollArea, QToolBox, QVBoxLayout, QWidget

from gui.catalog import Catalog
from gui.forms import ComboBox, ConfigForm, FloatSpinBox

TRAINING = ("backbone", "batch_size", "lr", "device")
PICKED = ("dataset", "dataset_options", "method", "method_options", "augment", "steps", "minutes")
PAGES = ("Dataset", "Method", "Augmentation", "Training", "Advanced")
MINUTES, STEPS, UNTIL_STOPPED = "minutes", "steps", "until stopped"


class Budget(QWidget):
    """How long to train: minutes of training, a number of steps, or until stopped."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.amount = FloatSpinBox(0.0, 1e9, 1.0)
        self.unit = ComboBox()
        self.unit.addItems([MINUTES, STEPS, UNTIL_STOPPED])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.amount, 1)
        layout.addWidget(self.unit)
        self.unit.currentTextChanged.connect(self._show_unit)
        self.amount.valueChanged.connect(self.changed)
        self.set_values(steps=0, minutes=3.0)

    def _show_unit(self, unit: str) -> None:
        self.amount.setEnabled(unit != UNTIL_STOPPED)
        self.amount.setDecimals(0 if unit == STEPS else 2)
        self.amount.setSingleStep(100 if unit == STEPS else 1)
        self.changed.emit()

    def values(self) -> dict[str, Any]:
        unit, amount = self.unit.currentText(), self.amount.value()
        return {"steps": int(amount) if unit == STEPS else 0, "minutes": amount if unit == MINUTES else 0.0}

    def set_values(self, steps: int, minutes: float) -> None:
        self.unit.setCurrentText(STEPS if steps else MINUTES if minutes else UNTIL_STOPPED)
        self._show_unit(self.unit.currentText())
        if steps or minutes:
            self.amount.setValue(steps or minutes)


class SetupPanel(QWidget):
    """Pickers on top, the settings in a tool box below; disabled while a run trains."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.catalog: Catalog | None = None
        self.dataset = ComboBox()
        self.method = ComboBox()
        self.about = QLabel("Loading the engine (PyTorch) ...")
        self.about.setWordWrap(True)
        self.about.setEnabled(False)  # greyed: a note, not a control
        pickers = QFormLayout()
        pickers.addRow("Dataset", self.dataset)
        pickers.addRow("Method", self.method)
        self.toolbox = QToolBox()
        for title in PAGES:
            page = QScrollArea()
            page.setWidgetResizable(True)
            page.setFrameShape(QScrollArea.Shape.NoFrame)
            self.toolbox.addItem(page, title)
        self.toolbox.setCurrentIndex(PAGES.index("Augmentation"))
        layout = QVBoxLayout(self)
        layout.addLayout(pickers)
        layout.addWidget(self.about)
        layout.addWidget(self.toolbox, 1)
        self.budget = Budget()
        self.forms: dict[str, ConfigForm] = {}
        self.set_editable(False)

    # building
    def set_catalog(self, catalog: Catalog) -> None:
        """Fill the pickers, select RunConfig's defaults (shapes, SimCLR) and build the forms."""
        from engine.build import RunConfig

        self.catalog = catalog
        self.method.blockSignals(True)
        self.method.addItems(list(catalog.methods))
        self.method.blockSignals(False)
        for i, method in enumerate(catalog.methods.values()):
            self.method.setItemData(i, method.paper, Qt.ItemDataRole.ToolTipRole)
        self.method.setCurrentText(RunConfig.method)
        self._offer_datasets()
        self.dataset.setCurrentText(RunConfig.dataset)
        self._place("Training", ConfigForm(RunConfig, names=TRAINING, choices={"device": ("auto", *catalog.devices)},
                                           item_help={"backbone": catalog.backbone_help}))
        self.forms["Training"].add_row("Budget", self.budget, "How long to train: minutes of training (pauses "
                                       "and evaluations excluded), a number of steps, or until you press Stop")
        advanced = [f.name for f in dataclasses.fields(RunConfig) if f.name not in TRAINING + PICKED]
        self._place("Advanced", ConfigForm(RunConfig, names=advanced))
        self._build_dataset_form()
        self._build_method_forms()
        self.dataset.currentTextChanged.connect(self._dataset_picked)
        self.method.currentTextChanged.connect(self._method_picked)
        self.budget.changed.connect(self.changed)
        self.set_editable(True)
        self.changed.emit()

    def _offer_datasets(self) -> bool:
        """The dataset picker offers the datasets of the picked method's modality (a text method: the text corpora)
        and the augmentation page is enabled for image methods only; True when the picked dataset changed."""
        from engine.build import RunConfig

        method = self.catalog.methods[self.method.currentText()]
        names = [name for name, source in self.catalog.datasets.items() if source.modality == method.modality]
        self.toolbox.setItemEnabled(PAGES.index("Augmentation"), method.modality == "image")
        current = self.dataset.currentText()
        if [self.dataset.itemText(i) for i in range(self.dataset.count())] == names:
            return False
        self.dataset.blockSignals(True)
        self.dataset.clear()
        self.dataset.addItems(names)
        for i, name in enumerate(names):
            self.dataset.setItemData(i, self.catalog.datasets[name].description, Qt.ItemDataRole.ToolTipRole)
        preferred = method.train_defaults.get("dataset", RunConfig.dataset)
        self.dataset.setCurrentText(current if current in names else preferred if preferred in names else names[0])
        self.dataset.blockSignals(False)
        return self.dataset.currentText() != current

    def _place(self, page: str, form: ConfigForm) -> None:
        self.forms[page] = form
        self.toolbox.widget(PAGES.index(page)).setWidget(form)
        form.changed.connect(self.changed)

    def _build_dataset_form(self) -> None:
        self._place("Dataset", ConfigForm(self.catalog.datasets[self.dataset.currentText()].config))
        self.forms["Dataset"].changed.connect(self._reset_forms_that_follow_the_data)
        self._describe()

    def _build_method_forms(self) -> None:
        """The method's form; the augmentation and training forms take the defaults."""
        method = self.catalog.methods[self.method.currentText()]
        self._place("Method", ConfigForm(method.Config))
        if "Augmentation" not in self.forms:
            from engine.data.augment import AugmentConfig

            self._place("Augmentation", ConfigForm(AugmentConfig))
        self._reset_defaults()
        self._describe()

    def _reset_defaults(self) -> None:
        """The dataset form takes the method's dataset defaults (the user's changes stay), the augmentation form the
        dataset's and then the method's defaults, the training forms the method's; the user's other changes stay."""
        method = self.catalog.methods[self.method.currentText()]
        dataset, dataset_form = self.dataset.currentText(), self.forms["Dataset"]
        changed = dataset_form.changes()
        dataset_form.reset(method.dataset_defaults(dataset))
        dataset_form.set_values(changed)  # signals a change: the forms that follow the data reset

    def _reset_forms_that_follow_the_data(self) -> None:
        """The augmentation and training forms take the defaults for the dataset's current settings (a world's
        invariances, a view size that fits its images); the user's changes stay."""
        from engine.data import dataset_augment_defaults

        method = self.catalog.methods[self.method.currentText()]
        dataset, options = self.dataset.currentText(), self.forms["Dataset"].values()
        try:
            augment = {**dataset_augment_defaults(dataset, options), **method.augment_defaults}
            trained = method.train_defaults_for(dataset, options)
        except ValueError:  # a setting being typed that does not parse yet: Start names it (check)
            return
        for page, defaults in (("Augmentation", augment), ("Training", trained), ("Advanced", trained)):
            form = self.forms[page]
            kept = {k: v for k, v in form.changes().items() if k not in defaults}
            form.reset(defaults)
            form.set_values(kept)

    def _describe(self) -> None:
        source = self.catalog.datasets[self.dataset.currentText()]
        method = self.catalog.methods[self.method.currentText()]
        self.about.setText(f"{method.paper}. Data: {source.description}.")

    def _dataset_picked(self) -> None:
        self._build_dataset_form()
        self._reset_defaults()
        self.changed.emit()

    def _method_picked(self) -> None:
        if self._offer_datasets():
            self._build_dataset_form()
        self._build_method_forms()
        self.changed.emit()

    # reading and writing the run
    def values(self) -> dict[str, Any]:
        forms = self.forms
        return {"dataset": self.dataset.currentText(), "dataset_options": forms["Dataset"].changes(),
                "method": self.method.currentText(), "method_options": forms["Method"].changes(),
                "augment": forms["Augmentation"].changes(), **forms["Training"].changes(),
                **forms["Advanced"].changes(), **self.budget.values()}

    def check(self, values: dict[str, Any]) -> None:
        """Raise ValueError, with a sentence, unless this panel can show ``values`` and the engine accepts them."""
        from engine.build import RunConfig
        from engine.config import from_dict

        config = RunConfig.with_method_defaults(values)
        for kind, name, known in (("dataset", config.dataset, self.catalog.datasets),
                                  ("method", config.method, self.catalog.methods),
                                  ("device", config.device, ("auto", *self.catalog.devices))):
            if name not in known:
                raise ValueError(f"{kind} {name!r} is not available here; choose one of {', '.join(known)}")
        from_dict(self.catalog.datasets[config.dataset].config, config.dataset_options)
        config.method_config()
        config.augment_config()

    def set_values(self, values: dict[str, Any]) -> None:
        """Show a run (a preset's or a run folder's config) that :meth:`check` accepts."""
        from engine.build import RunConfig

        self.blockSignals(True)
        try:
            for combo, key in ((self.method, "method"), (self.dataset, "dataset")):  # the method picks the datasets
                combo.blockSignals(True)
                combo.setCurrentText(values.get(key, getattr(RunConfig, key)))
                combo.blockSignals(False)
                if combo is self.method:
                    self._offer_datasets()
            for page in ("Augmentation", "Training", "Advanced"):
                self.forms[page].reset()
            self._build_dataset_form()
            self._build_method_forms()
            self.forms["Dataset"].set_values(values.get("dataset_options", {}))
            self._reset_defaults()  # the dataset's options (e.g. colour as the label) change its augmentation
            self.forms["Method"].set_values(values.get("method_options", {}))
            self.forms["Augmentation"].set_values(values.get("augment", {}))
            for page in ("Training", "Advanced"):
                form = self.forms[page]
                form.set_values({k: v for k, v in values.items() if k in form.editors})
            self.budget.set_values(values.get("steps", RunConfig.steps), values.get("minutes", RunConfig.minutes))
        finally:
            self.blockSignals(False)
        self.changed.emit()

    def set_editable(self, editable: bool) -> None:
        """Settings are fixed while a run trains; the tool box pages stay browsable."""
        self.dataset.setEnabled(editable)
        self.method.setEnabled(editable)
        for i in range(self.toolbox.count()):
            form = self.toolbox.widget(i).widget()
            if form is not None:
                form.setEnabled(editable)
