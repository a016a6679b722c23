"""Self-supervised methods, one file each, registered by name."""
from engine.methods import (barlow_twins, byol, colorization, dino, moco, rotnet, simclr, simsiam,  # noqa: F401
                            split_brain, swav)  # (register methods)
from engine.methods.base import METHODS, Method, Preview, StepOutput

__all__ = ["METHODS", "Method", "Preview", "StepOutput"]
