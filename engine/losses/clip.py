"""CLIP's symmetric InfoNCE over the image-text similarity matrix (Radford et al. 2021, "Learning Transferable
Visual Models From Natural Language Supervision", Figure 3) and SigLIP's pairwise sigmoid loss (Zhai et al. 2023,
"Sigmoid Loss for Language Image Pre-Training", Algorithm 1), both with several positives per image.

For L2-normalised image embeddings x_i (B of them) and text embeddings y_j (T >= B: the batch's captions first, then
any hard negatives), logits s_ij = t x_i . y_j with the learnt scale t, and P_ij = 1 where text j describes image i
(its own caption, and every equal caption: in a procedural world captions repeat, and such pairs are not negatives):

    InfoNCE:  L = 1/2 [ -1/B sum_i sum_j q_ij log softmax_j(s_i.)  -  1/B sum_j<B sum_i r_ji log softmax_i(s_.j) ]

with q_ij = P_ij / sum_j P_ij and r_ji = P_ij / sum_i P_ij (the texts' side runs over the batch's B captions only).
With one positive per row, P = I, this is the paper's symmetric cross-entropy.

    sigmoid:  L = -1/B sum_i sum_j log sigmoid(z_ij (s_ij + b)),  z_ij = +1 where P_ij, else -1

with a learnt bias b (SigLIP initialises t = 10 and b = -10 against the B^2 - B negatives' imbalance).

On several processes (torchrun) each rank's images meet every rank's texts and its texts every rank's images
(:func:`clip_infonce_across`; the sigmoid loss needs only the first): the mean over ranks is the global batch's loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.losses.precision import float32


def positive_pairs(image_captions: torch.Tensor, text_captions: torch.Tensor) -> torch.Tensor:
    """bool (B, T): text j describes image i when their caption ids are equal."""
    return image_captions[:, None] == text_captions[None, :]


@float32
def clip_infonce(images: torch.Tensor, texts: torch.Tensor, scale: torch.Tensor,
                 positives: torch.Tensor) -> torch.Tensor:
    """Symmetric multi-positive InfoNCE; ``images`` (B, E) and ``texts`` (T, E) L2-normalised, ``positives`` (B, T)
    with the diagonal of its first B columns set."""
    b = len(images)
    logits = scale * images @ texts.T
    p = positives.float()
    image_to_text = multi_positive_cross_entropy(logits, p)
    text_to_image = multi_positive_cross_entropy(logits[:, :b].T, p[:, :b].T)  # the batch's texts (rows), its images
    return (image_to_text + text_to_image) / 2


@float32
def clip_infonce_across(images: torch.Tensor, texts: torch.Tensor, all_images: torch.Tensor, all_texts: torch.Tensor,
                        scale: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """One rank's share of the symmetric InfoNCE of a batch spread over ranks: its B images against all T texts and
    its B texts (the batch's captions) against all T images; ``positives`` (B, T): its captions against all."""
    p = positives.float()
    return (multi_positive_cross_entropy(scale * images @ all_texts.T, p)
            + multi_positive_cross_entropy(scale * texts @ all_images.T, p)) / 2


def multi_positive_cross_entropy(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each row's softmax against its positives, weighted evenly (float ``positives``)."""
    return -(positives / positives.sum(1, keepdim=True) * F.log_softmax(logits, dim=1)).sum(1).mean()


@float32
def siglip_loss(images: torch.Tensor, texts: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor,
                positives: torch.Tensor) -> torch.Tensor:
    """SigLIP's sigmoid loss: every image-text pair is its own binary decision."""
    logits = scale * images @ texts.T + bias
    signs = positives.float() * 2 - 1
    return -F.logsigmoid(signs * logits).sum() / len(images)
