"""Self-supervised methods, one file each, registered by name."""
from engine.methods import barlow_twins, byol, dino, moco, rotnet, simclr, simsiam, swav  # noqa: F401  (register methods)
from engine.methods import jigsaw, relative_patch  # noqa: F401  (register methods)
from engine.methods.base import METHODS, Method, Preview, StepOutput

__all__ = ["METHODS", "Method", "Preview", "StepOutput"]
