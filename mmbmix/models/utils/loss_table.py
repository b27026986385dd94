"""The exact statistics backend of the per-batch label manager (Eq. 6-7).

Keeps this epoch's per-label BCE loss of every instance that came through
the random half (each instance once per epoch) and fits the 2K mixtures to
all of them at the end of the epoch: the paper's "fitting the GMMs to the
loss of entire data" (Algorithm 1, line 18). ``N x K`` float32 losses plus
``N x K`` bool labels; :class:`~mmbmix.models.utils.LossHistogram` is the
streamed backend with the same methods and no ``N x K`` state.

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
import torch
from torch import Tensor

from .gmm import GMMParams, fit_gmm_1d
from .label_refinery import label_groups, split_rule


class LossTable:
    """Per-label losses of one epoch, fit exactly at its end.

    Args:
        num_classes (int): K.
        num_instances (int): N.

    Example:
        >>> table = LossTable(num_classes=K, num_instances=N)
        >>> for idx, losses, labels in batches:   # (B,), (B, K), (B, K)
        ...     table.update(losses, labels, idx)
        >>> table.all_reduce()                      # distributed: one call
        >>> params = table.fit(split='always')      # 2K mixtures (Eq. 7)
        >>> table.next_epoch()
    """

    def __init__(self, num_classes: int, num_instances: int) -> None:
        if num_classes < 1 or num_instances < 1:
            raise ValueError(f'LossTable: bad num_classes={num_classes} or '
                             f'num_instances={num_instances}')
        self.num_classes = num_classes
        self.losses = torch.zeros(num_instances, num_classes)
        self.labels = torch.zeros(num_instances, num_classes, dtype=bool)
        self.count = torch.zeros(num_instances)

    @torch.no_grad()
    def update(self, losses: Tensor, labels: Tensor, idx: Tensor) -> None:
        """Keep the ``(B, K)`` losses (Eq. 6) of instances ``idx``."""
        if losses.shape != labels.shape or losses.size(0) != idx.numel():
            raise ValueError(
                f'LossTable.update: losses {tuple(losses.shape)}, labels '
                f'{tuple(labels.shape)} and idx {tuple(idx.shape)} disagree')
        if not torch.isfinite(losses).all():
            raise FloatingPointError(
                'LossTable.update: non-finite loss in the batch')
        idx = idx.cpu().long()
        self.losses[idx] = losses.detach().float().cpu()
        self.labels[idx] = labels.bool().cpu()
        self.count[idx] = 1.0

    def all_reduce(self) -> None:
        """Give every rank the rows of all ranks (one all-reduce of the
        losses, labels and counts; a row padded onto two ranks is their
        mean)."""
        from mmengine.dist import all_reduce, get_dist_info
        if get_dist_info()[1] == 1:
            return
        parts = [self.losses, self.labels.float(), self.count[:, None]]
        stacked = torch.cat(parts, dim=1)
        all_reduce(stacked, op='sum')
        k = self.num_classes
        count = stacked[:, -1].clamp_min(1)
        self.losses = stacked[:, :k] / count[:, None]
        self.labels = stacked[:, k:2 * k] > 0
        self.count = (stacked[:, -1] > 0).float()

    def fit(self, split: str = 'always', **gmm_kwargs) -> GMMParams:
        """The 2K mixtures (Eq. 7) of the losses seen this epoch, with the
        ``split`` rule of :func:`~mmbmix.models.utils.clean_prob`."""
        seen = self.count > 0
        values = self.losses[seen].reshape(-1)
        groups = label_groups(self.labels[seen]).reshape(-1)
        params = fit_gmm_1d(values, groups, 2 * self.num_classes, **gmm_kwargs)
        return split_rule(params, split, values, groups)

    def next_epoch(self) -> None:
        """Forget this epoch's losses."""
        self.count.zero_()

    def state_dict(self) -> dict:
        """Nothing lasts beyond an epoch (checkpoints are taken between)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
