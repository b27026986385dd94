"""Large-loss rejection / temporary correction (LL-R, LL-Ct).

Kim et al., "Large Loss Matters in Weakly Supervised Multi-Label
Classification", CVPR 2022: a comparison baseline of BalanceMix (Tables 1-4,
"Missing Labels" group).
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS

LL_MODES = ('reject', 'correct_temporary')


def large_loss_mask(loss: torch.Tensor, negative: torch.Tensor,
                    delta: float) -> torch.Tensor:
    """Mark the ``delta`` fraction of negative labels with the largest loss.

    Args:
        loss (Tensor): ``(B, K)`` per-label losses.
        negative (Tensor): ``(B, K)`` bool, the labels that may be chosen.
        delta (float): fraction in [0, 1] of the negatives to mark; their
            number is ``round(delta * num_negatives)``.

    Returns:
        Tensor: ``(B, K)`` bool mask of exactly that many negatives.
    """
    mask = torch.zeros_like(negative, dtype=torch.bool)
    k = int(round(delta * int(negative.sum())))
    if k == 0:
        return mask
    ranked = loss.detach().masked_fill(~negative, float('-inf')).flatten()
    mask.view(-1)[ranked.topk(k).indices] = True
    return mask


@MODELS.register_module()
class LargeLossRejectionLoss(nn.Module):
    """BCE with large-loss negatives rejected (LL-R) or corrected (LL-Ct).

    Each step, among the labels of the batch with target 0 (the negatives,
    i.e. the unobserved labels in the single-positive setting), the fraction
    ``delta(t)`` with the largest BCE loss is either rejected (weight 0,
    ``mode='reject'``, LL-R) or treated as positive for this step only
    (``mode='correct_temporary'``, LL-Ct). ``delta`` grows linearly with the
    epoch, ``delta(t) = min((t - t0 + 1) * delta_rel, max_delta)`` for
    0-based epochs ``t >= t0 = start_epoch`` and 0 before; with the default
    ``start_epoch=1`` this is Kim et al.'s ``(t - 1) * delta_rel`` for
    1-based ``t``. The epoch is read from the runner's ``MessageHub``
    (``'epoch'``, set by mmengine's ``RuntimeInfoHook`` before every training
    epoch), so no extra hook is needed.

    Differences from the authors' code, by decision: the fraction is of the
    batch's negatives (theirs: of all ``B * K`` entries, which differs only
    by the positives), exactly ``round(delta * #negatives)`` labels are
    chosen (``topk``; theirs a threshold with ties), and soft (Mixup) targets
    are handled by taking as negatives the entries whose target is exactly 0.

    The reduction matches mmpretrain's sigmoid ``CrossEntropyLoss``: sum of
    the per-label losses divided by ``avg_factor`` (the head passes the batch
    size), i.e. per instance the sum over classes, mean over instances; a
    rejected label contributes 0 but stays in the count.

    Args:
        mode (str): ``'reject'`` (LL-R) or ``'correct_temporary'`` (LL-Ct).
            Defaults to ``'reject'``.
        delta_rel (float): growth of ``delta`` per epoch, as a fraction
            (Kim et al. use 0.2% per epoch on COCO: 0.002). Defaults to 0.002.
        max_delta (float): cap of ``delta`` in [0, 1]. Defaults to 1.0.
        start_epoch (int): first 0-based epoch with a non-zero ``delta``.
            Defaults to 1.
        loss_weight (float): scale of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 mode: str = 'reject',
                 delta_rel: float = 0.002,
                 max_delta: float = 1.0,
                 start_epoch: int = 1,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if mode not in LL_MODES:
            raise ValueError(f'LargeLossRejectionLoss: mode must be one of '
                             f'{LL_MODES}, got {mode!r}')
        if not 0.0 <= delta_rel <= 1.0:
            raise ValueError('LargeLossRejectionLoss: delta_rel must be in '
                             f'[0, 1], got {delta_rel!r}')
        if not 0.0 <= max_delta <= 1.0:
            raise ValueError('LargeLossRejectionLoss: max_delta must be in '
                             f'[0, 1], got {max_delta!r}')
        if int(start_epoch) != start_epoch or start_epoch < 0:
            raise ValueError('LargeLossRejectionLoss: start_epoch must be a '
                             f'non-negative integer, got {start_epoch!r}')
        self.mode = mode
        self.delta_rel = float(delta_rel)
        self.max_delta = float(max_delta)
        self.start_epoch = int(start_epoch)
        self.loss_weight = loss_weight
        self.num_modified = 0  # labels rejected / corrected in the last step

    def delta(self, epoch: Optional[int] = None) -> float:
        """Fraction of the negatives modified at 0-based ``epoch`` (default:
        the runner's current epoch)."""
        if epoch is None:
            epoch = MessageHub.get_current_instance().get_info('epoch', 0)
        steps = max(epoch - self.start_epoch + 1, 0)
        return min(steps * self.delta_rel, self.max_delta)

    def modify(
            self,
            cls_score: torch.Tensor,
            target: torch.Tensor,
            epoch: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Targets and per-label weights after rejection / correction.

        Args:
            cls_score (Tensor): ``(B, K)`` logits.
            target (Tensor): ``(B, K)`` targets in [0, 1].
            epoch (int, optional): 0-based epoch; default from MessageHub.

        Returns:
            tuple[Tensor, Tensor]: ``(target, weight)``, both ``(B, K)``:
            LL-R sets the weight of the chosen labels to 0, LL-Ct sets their
            target to 1.
        """
        target = target.to(cls_score)
        bce = F.binary_cross_entropy_with_logits(
            cls_score, target, reduction='none')
        mask = large_loss_mask(bce, target == 0, self.delta(epoch))
        self.num_modified = int(mask.sum())
        weight = torch.ones_like(bce)
        if self.mode == 'reject':
            weight = weight.masked_fill(mask, 0.0)
        else:
            target = target.masked_fill(mask, 1.0)
        return target, weight

    def forward(self,
                cls_score: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                **kwargs) -> torch.Tensor:
        """
        Args:
            cls_score (Tensor): ``(B, K)`` logits.
            target (Tensor): ``(B, K)`` one-hot or soft targets.
            weight (Tensor, optional): ``(B, K)`` or ``(B, )`` weights.
            avg_factor (float, optional): divisor; defaults to ``B``.
        """
        target, ll_weight = self.modify(cls_score, target)
        bce = F.binary_cross_entropy_with_logits(
            cls_score, target, reduction='none') * ll_weight
        if weight is not None:
            weight = weight.to(bce)
            bce = bce * (weight[:, None] if weight.dim() == 1 else weight)
        denom = cls_score.size(0) if avg_factor is None else avg_factor
        return self.loss_weight * bce.sum() / max(denom, 1)
