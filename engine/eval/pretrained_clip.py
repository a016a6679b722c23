"""A pretrained CLIP the user downloaded, loaded offline, for zero-shot and text search on their own photos: a
Hugging Face CLIP folder (``config.json`` with ``model_type`` "clip", the weights, the tokenizer files and
optionally ``preprocessor_config.json``), read with ``transformers`` and never from the network. OpenCLIP
checkpoints need the ``open_clip`` package, which Pretext does not install: they are refused in one sentence.

:func:`load_zero_shot_model` opens either such a folder or a CLIP run folder of this app: both give an object with
``embed_images``, ``embed_texts``, ``logit_scale``, ``image_size`` and ``channels`` (engine.eval.zero_shot).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's preprocessing, when the folder does not say
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
OPENCLIP_HINT = ("OpenCLIP checkpoints need the open_clip package, which is not installed: download the model as a "
                 "Hugging Face CLIP folder (config.json, model.safetensors, tokenizer files) instead")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


class PretrainedCLIP:
    """A Hugging Face ``CLIPModel`` with its tokenizer and image preprocessing, on the CPU, in eval mode."""

    channels = 3

    def __init__(self, model: Any, tokenizer: Any, image_size: int, mean: tuple, std: tuple, source: Path):
        self.model, self.tokenizer, self.image_size, self.source = model.eval(), tokenizer, image_size, source
        self.mean, self.std = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
        self.max_tokens = int(getattr(model.config.text_config, "max_position_embeddings", 77))

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp().clamp(max=100))

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """float32 (N, E) L2-normalised embeddings of uint8 images (N, 1 or 3, H, W), resized to the model's size."""
        out = []
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].float().div(255)
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if x.shape[-2:] != (self.image_size, self.image_size):
                x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic", antialias=True,
                                  align_corners=False).clamp(0, 1)
            out.append(F.normalize(_features(self.model.get_image_features(pixel_values=(x - self.mean) / self.std)),
                                   dim=1).float())
        return torch.cat(out) if out else torch.zeros(0, self.model.config.projection_dim)

    def unknown_words(self, texts: list[str]) -> list[str]:
        return []  # a byte-level BPE reads any word

    @torch.no_grad()
    def embed_texts(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        out = []
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                                    max_length=self.max_tokens, return_tensors="pt")
            features = self.model.get_text_features(input_ids=tokens["input_ids"],
                                                    attention_mask=tokens["attention_mask"])
            out.append(F.normalize(_features(features), dim=1).float())
        return torch.cat(out) if out else torch.zeros(0, self.model.config.projection_dim)


def _features(output: Any) -> torch.Tensor:
    """transformers 5 returns the projected features as a model output's ``pooler_output``, 4 as a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def load_pretrained_clip(path: Path | str) -> PretrainedCLIP:
    """The Hugging Face CLIP folder ``path``, offline. ValueError in one sentence for anything else."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ValueError(f"{path} does not exist: choose a Hugging Face CLIP folder (config.json, model.safetensors "
                         "and the tokenizer files)")
    if path.is_file():
        if path.suffix.lower() in CHECKPOINT_SUFFIXES:
            raise ValueError(f"{path.name} is a single checkpoint file: {OPENCLIP_HINT}")
        raise ValueError(f"{path} is a file, not a Hugging Face CLIP folder")
    config_file = path / "config.json"
    if not config_file.is_file():
        if (path / "open_clip_config.json").is_file() or any(p.suffix in CHECKPOINT_SUFFIXES for p in path.iterdir()):
            raise ValueError(f"{path} has no config.json: {OPENCLIP_HINT}")
        raise ValueError(f"{path} is not a Hugging Face CLIP folder: it has no config.json")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{config_file} cannot be read ({e})") from None
    if config.get("model_type") != "clip":
        raise ValueError(f"{path} holds a {config.get('model_type', 'unknown')!r} model, not a CLIP model "
                         "(model_type 'clip' in config.json)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoTokenizer, CLIPModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        model = CLIPModel.from_pretrained(str(path), local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"the CLIP model in {path} cannot be loaded: {str(e).splitlines()[0]}") from None
    size, mean, std = model.config.vision_config.image_size, CLIP_MEAN, CLIP_STD
    processor_file = path / "preprocessor_config.json"
    if processor_file.is_file():
        try:
            processor = json.loads(processor_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"{processor_file} cannot be read ({e})") from None
        mean, std = tuple(processor.get("image_mean", mean)), tuple(processor.get("image_std", std))
    return PretrainedCLIP(model, tokenizer, int(size), mean, std, path)


class MethodModel:
    """A CLIP method of this app (a run's, or a snapshot of the one training) as a zero-shot model: its
    embed_images, embed_texts and logit_scale at the run's image size and channels."""

    def __init__(self, method: Any, channels: int, source: Path | None = None):
        self.method, self.channels, self.source = method, channels, source
        self.image_size = method.augment.image_size

    @property
    def logit_scale(self) -> float:
        return float(self.method.logit_scale.detach())

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.method.embed_images(images)

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        return self.method.embed_texts(texts)

    def unknown_words(self, texts: list[str]) -> list[str]:
        return self.method.unknown_words(texts)


def load_zero_shot_model(path: Path | str) -> MethodModel | PretrainedCLIP:
    """A CLIP run folder of this app, or a Hugging Face CLIP folder. ValueError (or CheckpointError,
    DatasetUnavailable for a damaged run) in one sentence."""
    path = Path(path).expanduser()
    if (path / "run.json").is_file():
        from engine.run import load_run

        run = load_run(path, device="cpu")
        if not hasattr(run.method, "embed_texts"):
            raise ValueError(f"{path} is a {run.config.method} run: zero-shot needs a run trained with clip, or a "
                             "Hugging Face CLIP folder")
        return MethodModel(run.method, run.dataset.channels, run.run_dir)
    return load_pretrained_clip(path)
