"""One small module per loss, each citing its paper and equation."""
from engine.losses.adversarial import adversarial_losses
from engine.losses.barlow_twins import BarlowTwinsLoss
from engine.losses.colorization import rebalanced_cross_entropy, rebalancing_weights
from engine.losses.cpc import cpc_infonce
from engine.losses.dino import DINOLoss
from engine.losses.infonce import InfoNCELoss
from engine.losses.negative_cosine import NegativeCosineSimilarity
from engine.losses.ntxent import NTXentLoss
from engine.losses.pixelwise_contrastive import pixelwise_contrastive_loss
from engine.losses.reconstruction import masked_l2, masked_patch_mse, patch_stats
from engine.losses.sinkhorn import sinkhorn
from engine.losses.swav import SwAVLoss

__all__ = ["BarlowTwinsLoss", "DINOLoss", "InfoNCELoss", "NTXentLoss", "NegativeCosineSimilarity", "SwAVLoss",
           "adversarial_losses", "cpc_infonce", "masked_l2", "masked_patch_mse", "patch_stats",
           "pixelwise_contrastive_loss", "rebalanced_cross_entropy", "rebalancing_weights", "sinkhorn"]
