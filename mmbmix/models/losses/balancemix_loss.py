"""The BalanceMix (Song et al., AAAI 2024) loss (Eq. 10)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class BalanceMixLoss(nn.Module):
    """Label-weighted BCE of the minority-augmented batch (Eq. 10).

    Per instance, the sum over classes of BCE for clean and re-labeled
    labels plus ``p_G``-weighted BCE for ambiguous labels; mean over the
    batch. With all weights 1 (warm-up) it is the plain BCE of Eq. 1.

    Args:
        loss_weight (float): scale of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self,
                cls_score: torch.Tensor,
                target: torch.Tensor,
                weight: torch.Tensor = None,
                avg_factor: float = None,
                **kwargs) -> torch.Tensor:
        """
        Args:
            cls_score (Tensor): ``(B, K)`` logits.
            target (Tensor): ``(B, K)`` mixed soft targets.
            weight (Tensor, optional): ``(B, K)`` per-label weights.
            avg_factor (float, optional): divisor; defaults to ``B``.
        """
        bce = F.binary_cross_entropy_with_logits(
            cls_score, target.to(cls_score), reduction='none')
        if weight is not None:
            bce = bce * weight.to(bce)
        denom = cls_score.size(0) if avg_factor is None else avg_factor
        return self.loss_weight * bce.sum() / max(denom, 1)
