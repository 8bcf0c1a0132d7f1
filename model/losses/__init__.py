"""MoSE training losses, one per file (sentence-transformers' layout)."""

from model.losses.icc import icc_loss
from model.losses.info_nce import LearnableTemperature, symmetric_info_nce
from model.losses.mlm import IGNORE_INDEX, mask_tokens, mlm_loss
from model.losses.self_distillation import combine, exit_weights

__all__ = [
    "IGNORE_INDEX",
    "LearnableTemperature",
    "combine",
    "exit_weights",
    "icc_loss",
    "mask_tokens",
    "mlm_loss",
    "symmetric_info_nce",
]
