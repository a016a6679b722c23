"""A tiny Vision Transformer (Dosovitskiy et al. 2021) whose last-block attention can be read out, as DINO's
``get_last_selfattention`` does (Caron et al. 2021)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if return_attention:  # explicit softmax(q k^T / sqrt(d_h)) so the map can be returned
            attn = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)
            out = attn @ v
        else:
            attn, out = None, F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, t, d)), attn


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        y, attn = self.attn(self.norm1(x), return_attention)
        x = x + y
        return x + self.mlp(self.norm2(x)), attn


class TinyViT(nn.Module):
    """Patch size 4, width 192, depth 6, 3 heads by default; the [CLS] token is the representation.

    Position embeddings are interpolated for other input sizes (multi-crop local views).
    """

    def __init__(self, in_channels: int = 3, image_size: int = 32, patch_size: int = 4, dim: int = 192,
                 depth: int = 6, heads: int = 3):
        super().__init__()
        self.patch_size = patch_size
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.grid = image_size // patch_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid**2, dim))
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.out_dim = dim
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def _pos_embed(self, h: int, w: int) -> torch.Tensor:
        if h == w == self.grid:
            return self.pos_embed
        cls, patches = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        patches = patches.reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        patches = F.interpolate(patches, size=(h, w), mode="bicubic", align_corners=False)
        return torch.cat([cls, patches.flatten(2).transpose(1, 2)], dim=1)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        h, w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1)
        return x + self._pos_embed(h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._tokens(x)
        for block in self.blocks:
            x, _ = block(x)
        return self.norm(x)[:, 0]

    def forward_visible(self, x: torch.Tensor, keep_index: torch.Tensor) -> torch.Tensor:
        """MAE's encoder (He et al. 2021, sec. 3): only [CLS] and the patches at ``keep_index`` (B, K), position
        embeddings added, pass through the blocks; returns their normalised tokens (B, 1 + K, dim), [CLS] first."""
        tokens = self._tokens(x)
        patches = tokens[:, 1:].gather(1, keep_index[..., None].expand(-1, -1, tokens.shape[-1]))
        x = torch.cat([tokens[:, :1], patches], dim=1)
        for block in self.blocks:
            x, _ = block(x)
        return self.norm(x)

    def stages(self) -> list[nn.Module]:
        """The transformer blocks, in order (what engine/eval/layers.py reads)."""
        return list(self.blocks)

    def last_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Attention of the last block, (B, heads, 1 + patches, 1 + patches); row 0 is [CLS] attending to patches."""
        x = self._tokens(x)
        for block in self.blocks[:-1]:
            x, _ = block(x)
        _, attn = self.blocks[-1](x, return_attention=True)
        return attn
