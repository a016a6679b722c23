"""CLIP (Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision"): an image
tower and a text tower, linear projections into a joint space, L2-normalised, and a symmetric InfoNCE over the
batch's image-text similarity matrix with a learnt temperature (section 2.3, Figure 3): SimCLR applied across
modalities. The sigmoid loss of SigLIP (Zhai et al. 2023) is a setting.

Text towers: a small transformer trained from scratch on the training captions (its word vocabulary fitted on them
and saved with the run), the frozen pretrained MiniLM sentence encoder (its caption embeddings cached once; only the
image tower and the projections train), or LiT (Zhai et al. 2022, "LiT: Zero-Shot Transfer with Locked-image text
Tuning"): the image encoder of an earlier self-supervised run locked, only the image projection and the text side
trained. Captions repeat in a procedural world, so pairs with equal captions are positives, not negatives (or each
batch is drawn with distinct captions). Hard negatives (NegCLIP, Yuksekgonul et al. 2023) add, for each caption, the
caption with one attribute swapped ("a blue star" for "a red star") as an extra text no image should match.

Capabilities the zero-shot evaluation, the CLI and the window use: ``embed_images``, ``embed_texts`` (both into the
joint space, L2-normalised) and ``logit_scale``.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine import distributed
from engine.config import param
from engine.data.base import ImageSet
from engine.eval.zero_shot import zero_shot_scores
from engine.events import SimilarityTiles, Tiles
from engine.losses.clip import clip_infonce, clip_infonce_across, positive_pairs, siglip_loss
from engine.methods.base import Method, StepOutput, register_method, views_preview
from engine.methods.slots import JsonSlot, TensorSlot
from engine.text.clip_towers import MINILM_DIM, TextTransformer, minilm_embeddings, token_ids
from engine.text.tokenizer import Vocabulary

TOWERS = ("scratch", "frozen-minilm", "lit")
MAX_LOGIT_SCALE = 100.0  # the paper clips the learnt scale here, so the logits cannot grow past it
SIGLIP_SCALE, SIGLIP_BIAS = 10.0, -10.0  # SigLIP's initial t and b
PREVIEW_PAIRS = 6  # pairs of the last batch in the live similarity matrix
HARD_NEGATIVE_SEED = 0


@dataclass
class CLIPConfig:
    towers: str = param("scratch", "scratch: both towers learn (the text one from the captions); frozen-minilm: the "
                        "pretrained MiniLM sentence encoder, frozen, as the text tower; lit: the image encoder of an "
                        "earlier run locked (lit_run), only the text side learns", choices=TOWERS)
    lit_run: str = param("", "LiT: the run folder of an earlier self-supervised run of the same backbone and image "
                         "size, whose encoder is locked")
    loss: str = param("infonce", "infonce: CLIP's symmetric softmax over the batch; sigmoid: SigLIP's independent "
                      "binary decision per image-text pair", choices=("infonce", "sigmoid"))
    same_caption: str = param("positives", "Images of equal captions in a batch: positives of each other's caption, "
                              "or batches drawn with distinct captions", choices=("positives", "distinct"))
    hard_negatives: bool = param(False, "Add each caption with one attribute swapped ('a blue star' for 'a red star') "
                                 "as a negative: teaches the model to read every attribute")
    embed_dim: int = param(128, "Width of the joint image-text space", low=8, high=2048)
    temperature: float = param(0.07, "Initial softmax temperature (InfoNCE): the learnt logit scale starts at its "
                               "inverse and is clamped at 100", low=0.01, high=1.0)
    text_width: int = param(128, "Text transformer width", low=16, high=1024)
    text_layers: int = param(2, "Text transformer blocks", low=1, high=12)
    text_heads: int = param(4, "Text transformer attention heads (must divide the width)", low=1, high=16)
    max_tokens: int = param(24, "Words of a caption the text transformer reads", low=4, high=128)
    vocab_size: int = param(2000, "Largest vocabulary fitted on the training captions (special tokens included)",
                            low=8, high=100_000)


@register_method
class CLIP(Method):
    """Image tower = the run's backbone + a linear projection; text tower + a linear projection; both L2-normalised
    into the joint space, compared by the scaled cosine similarity."""

    name = "clip"
    paper = "Radford et al. 2021, CLIP"
    Config = CLIPConfig
    # "A random square crop from resized images is the only data augmentation" (section 2.5): no flips (captions
    # say left and right), no rotation, no colour jitter (they name colours)
    augment_defaults = {"crop_scale_min": 0.8, "crop_ratio": 1.0, "flip_p": 0.0, "rotate_degrees": 0.0,
                        "jitter_p": 0.0, "grayscale_p": 0.0, "blur_p": 0.0, "solarize_p": 0.0}
    train_defaults = {"lr": 1e-3, "weight_decay": 0.1, "batch_size": 256}

    @classmethod
    def dataset_defaults(cls, dataset: str) -> dict:
        """Shapes: two compositions held out of training for zero-shot on unseen compositions; folders: only the
        captioned images."""
        return {"shapes": {"held_out": "red star, blue ring"}, "folder": {"captioned_only": True}}.get(dataset, {})

    def __init__(self, backbone, config: CLIPConfig, augment):
        super().__init__(backbone, config, augment)
        if config.towers == "lit" and not config.lit_run:
            raise ValueError("towers=lit locks the encoder of an earlier run: set method.lit_run to its run folder")
        self.image_projection = nn.Linear(backbone.out_dim, config.embed_dim, bias=False)
        if config.towers == "frozen-minilm":
            self.text_encoder = None
            self.text_projection = nn.Linear(MINILM_DIM, config.embed_dim, bias=False)
        else:
            self.text_encoder = TextTransformer(config.vocab_size, config.text_width, config.text_layers,
                                                config.text_heads, config.max_tokens)
            self.text_projection = nn.Linear(config.text_width, config.embed_dim, bias=False)
        sigmoid = config.loss == "sigmoid"
        self.log_scale = nn.Parameter(torch.tensor(math.log(SIGLIP_SCALE if sigmoid else 1 / config.temperature)))
        self.bias = nn.Parameter(torch.tensor(SIGLIP_BIAS)) if sigmoid else None
        if config.towers == "lit":
            backbone.requires_grad_(False)
        # derived from the training captions by prepare_data, restored by the checkpoint
        self.caption_table = JsonSlot()  # {"texts": unique captions (+ hard negatives), "hard_negative": ids,
        #                                    "vocabulary": tokenizer JSON}
        self.caption_of = TensorSlot()  # int64 (N,): each training image's row of "texts"
        self.text_features = TensorSlot()  # frozen-minilm: float32 (len(texts), 384) cached MiniLM embeddings
        self._vocabulary: Vocabulary | None = None
        self._tokens: torch.Tensor | None = None  # token ids of "texts", made on first use
        self._hard_negatives: torch.Tensor | None = None  # "hard_negative" as a tensor, made on first use
        self._frozen_cache: dict[str, torch.Tensor] = {}  # frozen-minilm: MiniLM features of texts embedded so far
        self._batch_captions: torch.Tensor | None = None  # caption ids of the batch batch_indices chose
        self._last_batch: tuple[torch.Tensor, torch.Tensor] | None = None  # images and caption ids, for the preview

    # training
    def train(self, mode: bool = True) -> CLIP:
        super().train(mode)
        if self.config.towers == "lit":
            self.backbone.eval()  # locked: its BatchNorm statistics too
        return self

    def prepare_data(self, train: ImageSet) -> None:
        captions = train.captions
        if not captions or not all(text.strip() for text in captions):
            missing = len(train) if not captions else sum(not text.strip() for text in captions)
            raise ValueError(f"clip learns from captions, and {missing} of the {len(train)} training images have "
                             "none: use shapes, or a folder with captions.tsv or sidecar .txt files "
                             "(dataset.captioned_only=true)")
        texts = list(dict.fromkeys(captions))
        row = {text: i for i, text in enumerate(texts)}
        self.caption_of.value = torch.tensor([row[text] for text in captions], dtype=torch.long)
        vocabulary = None if self.text_encoder is None else Vocabulary.fit(texts, max_size=self.config.vocab_size)
        hard = [-1] * len(texts)
        if self.config.hard_negatives:
            from engine.data.shape_captions import swap_attribute

            rng = random.Random(HARD_NEGATIVE_SEED)
            for i in range(len(texts)):
                if (swapped := swap_attribute(texts[i], rng)) is not None:
                    hard[i] = row.setdefault(swapped, len(texts))
                    if hard[i] == len(texts):
                        texts.append(swapped)
        self.caption_table.value = {"texts": texts, "hard_negative": hard,
                                    "vocabulary": None if vocabulary is None else vocabulary.to_json()}
        if self.text_encoder is None:
            self.text_features.value = minilm_embeddings(texts)
        if self.config.towers == "lit":
            lock_encoder(self.backbone, Path(self.config.lit_run))

    @property
    def texts(self) -> list[str]:
        """The training captions (and their hard negatives), by caption id."""
        return self.caption_table.value["texts"] if self.caption_table.value else []

    def batch_indices(self, step: int, proposed: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        caption_of = self.caption_of.value
        index = proposed
        if self.config.same_caption == "distinct":
            index = distinct_caption_batch(proposed, caption_of, step)
        self._batch_captions = caption_of[index]
        return index

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        ids = self._batch_captions
        if ids is None or len(ids) != len(images):
            raise RuntimeError("clip looks up a batch's captions in batch_indices(): call it before training_step")
        x = self.augment(images, rng)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.config.towers != "lit"):
            h = self.backbone(x)
        image_embeddings = F.normalize(self.image_projection(h), dim=1)
        text_ids = ids
        if self.config.hard_negatives:
            if self._hard_negatives is None:
                self._hard_negatives = torch.tensor(self.caption_table.value["hard_negative"], dtype=torch.long)
            hard = self._hard_negatives[ids]
            text_ids = torch.cat([ids, hard[hard >= 0]])
        text_embeddings = self._embed_caption_ids(text_ids.to(self.log_scale.device))
        positives = positive_pairs(ids, text_ids).to(x.device)
        scale = self.logit_scale
        if distributed.world_size() > 1:
            loss = self._loss_across_ranks(image_embeddings, text_embeddings, ids, scale)
        elif self.bias is None:
            loss = clip_infonce(image_embeddings, text_embeddings, scale, positives)
        else:
            loss = siglip_loss(image_embeddings, text_embeddings, scale, self.bias, positives)
        with torch.no_grad():
            best = (image_embeddings @ text_embeddings.T).argmax(1)
            accuracy = positives[torch.arange(len(ids)), best].float().mean().item()
        self._last_batch = (images[:PREVIEW_PAIRS].detach().cpu(), ids[:PREVIEW_PAIRS].cpu())
        return StepOutput(loss, h.detach(), {"pretext_acc": accuracy, "logit_scale": scale.item()})

    def _loss_across_ranks(self, images: torch.Tensor, texts: torch.Tensor, ids: torch.Tensor,
                           scale: torch.Tensor) -> torch.Tensor:
        """Under torchrun: this rank's images and captions against every rank's (gathered with their gradient), so
        that the batch of negatives is global."""
        if self.config.hard_negatives:
            raise ValueError("clip's hard_negatives train in one process for now: run without torchrun, or set "
                             "method.hard_negatives=false")
        all_images, all_texts = distributed.gather_with_grad(images), distributed.gather_with_grad(texts)
        ids = ids.to(images.device)
        positives = positive_pairs(ids, distributed.gather(ids))
        if self.bias is None:
            return clip_infonce_across(images, texts, all_images, all_texts, scale, positives)
        return siglip_loss(images, all_texts, scale, self.bias, positives)

    def after_step(self, progress: float) -> None:
        with torch.no_grad():
            self.log_scale.clamp_(max=math.log(MAX_LOGIT_SCALE))

    @property
    def logit_scale(self) -> torch.Tensor:
        """t = exp(log_scale), never above 100."""
        return self.log_scale.exp().clamp(max=MAX_LOGIT_SCALE)

    @property
    def embedder(self) -> nn.Module:
        return nn.Sequential(self.backbone, self.image_projection).train(self.training)

    # the towers
    def _embed_caption_ids(self, ids: torch.Tensor) -> torch.Tensor:
        if self.text_encoder is None:
            features = self.text_features.value[ids.cpu()].to(ids.device)
        else:
            if self._tokens is None:
                self._tokens = token_ids(self.vocabulary, self.texts, self.config.max_tokens)
            features = self.text_encoder(self._tokens[ids.cpu()].to(ids.device))
        return F.normalize(self.text_projection(features), dim=1)

    @property
    def vocabulary(self) -> Vocabulary:
        """The from-scratch tower's vocabulary, fitted on the training captions (ValueError before training)."""
        if self._vocabulary is None:
            saved = (self.caption_table.value or {}).get("vocabulary")
            if saved is None:
                raise ValueError("this clip model has no text vocabulary yet: it is fitted on the captions when "
                                 "training starts")
            self._vocabulary = Vocabulary.from_json(saved)
        return self._vocabulary

    def unknown_words(self, texts: list[str]) -> list[str]:
        """Words of ``texts`` the from-scratch text tower never saw (they read as [UNK]; punctuation is not listed);
        none for MiniLM."""
        if self.text_encoder is None:
            return []
        vocabulary = self.vocabulary
        words = {word for text in texts for word, _ in vocabulary.tokenizer.pre_tokenizer.pre_tokenize_str(
            vocabulary.tokenizer.normalizer.normalize_str(text))}
        return sorted(word for word in words if word.isalnum() and vocabulary.id_of(word) == vocabulary.unk_id)

    @torch.no_grad()
    def embed_texts(self, texts: list[str], batch_size: int = 512) -> torch.Tensor:
        """float32 (T, E) L2-normalised joint-space embeddings of any texts (unknown words read as [UNK])."""
        device = self.log_scale.device
        was_training = self.training
        self.eval()
        out = []
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start:start + batch_size])
            if self.text_encoder is None:
                features = self._frozen_text_features(chunk).to(device)
            else:
                features = self.text_encoder(token_ids(self.vocabulary, chunk, self.config.max_tokens).to(device))
            out.append(F.normalize(self.text_projection(features), dim=1).float().cpu())
        self.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, self.config.embed_dim)

    def _frozen_text_features(self, texts: list[str]) -> torch.Tensor:
        """MiniLM's features of ``texts``, each computed once per model (the tower is frozen: only the projection
        after it learns), so the evaluations' prompts cost nothing after the first."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._frozen_cache))
        for text, row in zip(missing, minilm_embeddings(missing)):
            self._frozen_cache[text] = row
        return torch.stack([self._frozen_cache[t] for t in texts])

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """float32 (N, E) L2-normalised joint-space embeddings of uint8 images (N, C, S, S) at the run's size."""
        device = self.log_scale.device
        was_training = self.training
        self.eval()
        out = [F.normalize(self.image_projection(self.backbone(self.augment.prepare(images[i:i + batch_size]
                                                                                     .to(device)))), dim=1)
               .float().cpu() for i in range(0, len(images), batch_size)]
        self.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, self.config.embed_dim)

    def evaluation_scores(self, dataset, limit: int, final: bool) -> dict[str, float]:
        """Zero-shot accuracy (standard labels, unseen compositions), binding and, finally, text-to-image recall
        (engine.eval.zero_shot), for the Session's evaluations."""
        return zero_shot_scores(self, dataset, limit, final)

    @torch.no_grad()
    def joint_from_features(self, features: torch.Tensor | None, images: torch.Tensor) -> torch.Tensor:
        """Joint-space embeddings of ``images`` whose backbone output is ``features`` (the explorer's): their
        projection, no forward pass; without them (features of another stage), the images embedded."""
        if features is None or features.shape[1] != self.image_projection.in_features:
            return self.embed_images(images)
        projected = self.image_projection(features.to(self.log_scale.device).float())
        return F.normalize(projected, dim=1).cpu()

    # the window
    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """The last training batch's image-text similarity matrix (the paper's Figure 1, live): a row per image,
        its caption, and its cosine similarity to each caption of the batch, the best marked ✓ (right) or ✗."""
        if self._last_batch is None:
            return views_preview(self.augment, images, rng, n_views=1)
        batch, ids = self._last_batch
        captions = [self.texts[i] for i in ids.tolist()]
        matrix = self.embed_images(batch) @ self._embed_caption_ids_eval(ids).T
        rows, tile_captions = [], []
        for i in range(len(batch)):
            best = int(matrix[i].argmax())
            cells = [similarity_tile(float(v), batch.shape[-1]) for v in matrix[i]]
            rows.append([batch[i]] + cells)
            marks = [f"{float(v):.2f}" + ((" ✓" if ids[j] == ids[i] else " ✗") if j == best else "")
                     for j, v in enumerate(matrix[i])]
            tile_captions.append([f"{i + 1}: {captions[i]}"] + marks)
        return SimilarityTiles("Image-text cosine similarity of the last batch (row: image, column: caption)",
                               rows, tile_captions, texts=captions, matrix=matrix)

    def _embed_caption_ids_eval(self, ids: torch.Tensor) -> torch.Tensor:
        was_training = self.training
        self.eval()
        out = self._embed_caption_ids(ids.to(self.log_scale.device)).float().cpu()
        self.train(was_training)
        return out


def similarity_tile(similarity: float, size: int) -> torch.Tensor:
    """A uint8 (3, size, size) tile coloured by a cosine similarity in [-1, 1] (dark blue -> yellow)."""
    t = min(max((similarity + 1) / 2, 0.0), 1.0)
    colour = torch.tensor([0.12 + 0.85 * t, 0.10 + 0.80 * t, 0.45 - 0.35 * t]).clamp(0, 1)
    return (colour * 255).round().to(torch.uint8).view(3, 1, 1).expand(3, size, size).contiguous()


def distinct_caption_batch(epoch_order: torch.Tensor, caption_of: torch.Tensor, step: int) -> torch.Tensor:
    """The batch ``epoch_order`` with each image whose caption came earlier in it replaced by an image of a caption
    not yet in the batch, drawn in an order fixed by ``step``; duplicates remain only when the data has fewer
    distinct captions than the batch has images."""
    batch, seen = [], set()
    duplicates = 0
    for i in epoch_order.tolist():
        caption = int(caption_of[i])
        if caption in seen:
            duplicates += 1
        else:
            seen.add(caption)
            batch.append(i)
    if duplicates:
        for i in torch.randperm(len(caption_of), generator=torch.Generator().manual_seed(step)).tolist():
            if len(batch) == len(epoch_order):
                break
            if (caption := int(caption_of[i])) not in seen:
                seen.add(caption)
                batch.append(i)
        batch += epoch_order.tolist()[: len(epoch_order) - len(batch)]
    return torch.tensor(batch, dtype=torch.long)


def lock_encoder(backbone: nn.Module, run_dir: Path) -> None:
    """Load the encoder (``model.backbone.*``) of the run in ``run_dir`` into ``backbone``; ValueError in one
    sentence for a folder that is not a run or whose encoder does not fit."""
    from engine.checkpoint import load_checkpoint
    from engine.errors import CheckpointError

    try:
        tensors, state = load_checkpoint(Path(run_dir).expanduser() / "checkpoint.safetensors")
    except CheckpointError as e:
        raise ValueError(f"lit_run: {e}; pick the folder of a finished run") from None
    weights = {k[len("model.backbone."):]: v for k, v in tensors.items() if k.startswith("model.backbone.")}
    try:
        backbone.load_state_dict(weights)
    except RuntimeError:
        raise ValueError(f"lit_run: the encoder of {run_dir} ({state.get('backbone')}, {state.get('image_size')} px, "
                         f"{state.get('channels')} channel(s)) does not fit this run's backbone: train with the same "
                         "backbone, image size and channels") from None
