"""The context encoder's adversarial loss (Pathak et al. 2016, sec. 3.2), written so that ONE backward pass trains
both players, as the Session's single optimiser needs."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from engine.losses.precision import float32


@float32
def adversarial_losses(discriminator: nn.Module, real: torch.Tensor,
                       fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(discriminator loss, generator loss, discriminator accuracy) for L_adv = max_D E[log D(x) + log(1 - D(F(x)))].

    The discriminator's loss, -log D(x) - log(1 - D(fake)), sees the fakes detached: its gradient reaches only D.
    The generator's loss is the non-saturating -log D(fake) of the paper's code, computed through D with D's
    parameters detached (``torch.func.functional_call``): its gradient reaches only the generator, through the fakes.
    Their sum therefore gives each player its own (opposite) gradient in one backward. D returns logits (B, 1)."""
    real_logits, fake_logits = discriminator(torch.cat([real, fake.detach()])).chunk(2)
    labels = torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)])
    d_loss = 2 * F.binary_cross_entropy_with_logits(torch.cat([real_logits, fake_logits]), labels)
    frozen = {name: p.detach() for name, p in discriminator.named_parameters()}
    fooled_logits = functional_call(discriminator, frozen, (fake,))
    g_loss = F.binary_cross_entropy_with_logits(fooled_logits, torch.ones_like(fooled_logits))
    accuracy = ((real_logits > 0).float().mean() + (fake_logits <= 0).float().mean()) / 2
    return d_loss, g_loss, accuracy
