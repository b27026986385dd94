"""Importance-reweighted BCE under per-class transition matrices.

The training loss of the T-estimator baseline (Li et al., "Estimating Noise
Transition Matrix with Label Correlations for Noisy Multi-Label Learning",
NeurIPS 2022), a comparison method of BalanceMix ("Noisy Labels" group).
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class TransitionReweightedLoss(nn.Module):
    """BCE with each label weighted by ``P(y = y~ | x) / P(y~ | x)``.

    Importance reweighting (Liu & Tao, TPAMI 2016), per class k with
    ``T[k, c, b] = P(y~_k = b | y_k = c)``: the model's sigmoid ``p`` is the
    clean posterior, the noisy one is ``P(y~ = 1 | x) = (1 - p) T[k, 0, 1] +
    p T[k, 1, 1]``, and the BCE of a given label ``y~`` is multiplied by the
    detached weight ``P(y = y~ | x) / P(y~ | x)``; a soft target ``t`` (Mixup)
    weights its positive and negative terms by the weights of ``y~ = 1`` and
    ``y~ = 0``. Without a matrix (warm-up) it is plain BCE, and with
    ``T = I`` every weight is 1.

    Reweighting rather than forward correction: the loss stays the BCE of
    the model's own (clean) posterior, so prediction needs no change, and
    each weight is bounded by ``1 / (1 - rho)`` of its row, whereas the
    forward loss flattens the sigmoid's range to ``[rho_01, 1 - rho_10]``
    and its gradient vanishes as ``rho_01 + rho_10`` nears 1 (the
    single-positive setting has ``rho_10`` about 0.6 on the mosaics).

    The reduction is mmpretrain's sigmoid ``CrossEntropyLoss``: the sum of
    the per-label losses over ``avg_factor`` (the head passes the batch
    size). :class:`~mmbmix.engine.hooks.TEstimatorHook` sets the matrices.

    Args:
        loss_weight (float): scale of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.transition: Optional[torch.Tensor] = None

    def set_transition(self, transition: Optional[torch.Tensor]) -> None:
        """Use the ``(K, 2, 2)`` matrices from now on (None: plain BCE)."""
        if transition is not None:
            transition = torch.as_tensor(transition, dtype=torch.float32)
            if transition.dim() != 3 or transition.shape[1:] != (2, 2):
                raise ValueError('TransitionReweightedLoss: transition must '
                                 'have shape (K, 2, 2), got '
                                 f'{tuple(transition.shape)}')
        self.transition = transition

    def importance_weights(
            self,
            cls_score: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Detached ``(B, K)`` weights of the labels 0 and 1."""
        p = torch.sigmoid(cls_score.detach())
        t = self.transition.to(p)
        noisy_pos = (1 - p) * t[:, 0, 1] + p * t[:, 1, 1]
        noisy_neg = (1 - p) * t[:, 0, 0] + p * t[:, 1, 0]
        return ((1 - p) / noisy_neg.clamp(min=1e-12),
                p / noisy_pos.clamp(min=1e-12))

    def forward(self,
                cls_score: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                **kwargs) -> torch.Tensor:
        """
        Args:
            cls_score (Tensor): ``(B, K)`` logits.
            target (Tensor): ``(B, K)`` noisy one-hot or soft targets.
            weight (Tensor, optional): ``(B, K)`` or ``(B, )`` weights.
            avg_factor (float, optional): divisor; defaults to ``B``.
        """
        target = target.to(cls_score)
        pos_loss = F.softplus(-cls_score)  # -log(p)
        neg_loss = F.softplus(cls_score)  # -log(1 - p)
        if self.transition is not None:
            w_neg, w_pos = self.importance_weights(cls_score)
            pos_loss, neg_loss = pos_loss * w_pos, neg_loss * w_neg
        loss = target * pos_loss + (1 - target) * neg_loss
        if weight is not None:
            weight = weight.to(loss)
            loss = loss * (weight[:, None] if weight.dim() == 1 else weight)
        denom = cls_score.size(0) if avg_factor is None else avg_factor
        return self.loss_weight * loss.sum() / max(denom, 1)
