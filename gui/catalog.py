"""What the setup panel offers: datasets, methods, backbones and devices, read from the engine's registries.

Importing the engine imports PyTorch, which takes seconds, so :func:`load_catalog` runs off the GUI thread after
the window is shown; until it arrives the pickers say "Loading". Once it has arrived every engine module is in
``sys.modules`` and the GUI's function-level ``from engine ... import`` statements cost nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Catalog:
    datasets: dict[str, Any]  # name -> engine.data.registry.DatasetSource
    methods: dict[str, type]  # name -> engine Method class (Config, augment_defaults, train_defaults, paper)
    backbone_help: dict[str, str]
    devices: tuple[str, ...]  # present devices, fastest first


def load_catalog() -> Catalog:
    import engine.run  # noqa: F401  (the Session and everything it needs, loaded once here)
    from engine.data import dataset_sources
    from engine.device import available_devices
    from engine.methods import METHODS
    from engine.nets import BACKBONE_HELP

    return Catalog(dict(dataset_sources()), dict(METHODS), dict(BACKBONE_HELP), tuple(available_devices()))
