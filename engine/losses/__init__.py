"""One small module per loss, each citing its paper and equation."""
from engine.losses.ntxent import NTXentLoss

__all__ = ["NTXentLoss"]
