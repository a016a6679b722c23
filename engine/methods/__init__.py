"""Self-supervised methods, one file each, registered by name."""
from engine.methods import (  # noqa: F401  (importing a method's module registers it)
    barlow_twins,
    byol,
    clip,
    colorization,
    context_encoder,
    cpc,
    deepcluster,
    denoising_ae,
    dense_descriptors,
    dino,
    exemplar,
    jigsaw,
    mae,
    moco,
    relative_patch,
    rotnet,
    sela,
    simclr,
    simsiam,
    split_brain,
    swav,
    video_colorization,
)
from engine.methods.base import METHODS, Method, StepOutput, Tiles
from engine.text import masked_lm, word2vec  # noqa: F401  (the text methods register here too)

__all__ = ["METHODS", "Method", "StepOutput", "Tiles"]
