"""Streaming per-class loss histograms for the 2K mixtures (Eq. 6-8).

At Open Images scale (9M images, 9,605 classes) a dense ``N x K`` table of
losses or clean probabilities does not fit (86 billion labels). The mixtures
of Eq. 7 only need, per set (negative / positive labels of a class), the
distribution of its losses: :class:`LossHistogram` keeps, for each of the 2K
sets, the exact count, sum and sum of squares of the losses falling in each
of ``num_bins`` bins, filled batch by batch during the epoch. Ranks sum their
histograms with one all-reduce, the mixtures are fit from them
(:func:`~mmbmix.models.utils.gmm.fit_gmm_binned`, the same binned EM as the
dense path) and ``p_G`` of a batch's labels is evaluated from the fitted
mixtures when the batch needs it (``batch_clean_prob``). The
state is ``3 x 2K x num_bins`` float64 whatever N is.

The bins of a set span the range its losses had in the previous epoch
(tracked exactly on the way, one more scatter-max/min), and values outside go
to the end bins (their sums stay exact). Before any range is known the bins
span ``[0, init_max]``.

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
import math

import torch
from torch import Tensor

from .gmm import GMMParams, _bin_atoms, fit_gmm_binned
from .label_refinery import label_groups, split_rule


class LossHistogram:
    """Per-class, per-label-sign histograms of BCE losses (Eq. 6-7 input).

    Args:
        num_classes (int): K; there are 2K sets: the negative labels of class
            k are set ``k``, its positive labels set ``K + k``.
        num_bins (int): bins per set. Defaults to 128.
        init_max (float): upper end of the bins before any range is known.
            Defaults to 10.0 (BCE of a 4.5e-5 confidence on a true label).
        device (str | torch.device): where the histograms live.

    Example:
        >>> hist = LossHistogram(num_classes=K)
        >>> for losses, labels in batches:       # (B, K) each
        ...     hist.update(losses, labels)
        >>> hist.all_reduce()                    # distributed: one call
        >>> params = hist.fit()                  # 2K mixtures (Eq. 7)
        >>> hist.next_epoch()                    # ranges for the next one
        >>> p_g = batch_clean_prob(batch_losses, batch_labels, params)
    """

    def __init__(self,
                 num_classes: int,
                 num_bins: int = 128,
                 init_max: float = 10.0,
                 device='cpu') -> None:
        if num_classes < 1 or num_bins < 2 or not init_max > 0:
            raise ValueError(f'LossHistogram: bad num_classes={num_classes}, '
                             f'num_bins={num_bins} or init_max={init_max}')
        self.num_classes = num_classes
        self.num_bins = num_bins
        groups = 2 * num_classes
        self.stats = torch.zeros(
            3, groups, num_bins, dtype=torch.float64, device=device)
        self.lo = torch.zeros(groups, dtype=torch.float64, device=device)
        self.scale = torch.full((groups, ),
                                num_bins / init_max,
                                dtype=torch.float64,
                                device=device)
        self.seen_min = torch.full((groups, ), math.inf, device=device)
        self.seen_max = torch.full((groups, ), -math.inf, device=device)

    @property
    def nbytes(self) -> int:
        """Bytes of the whole state (independent of the number of images)."""
        return sum(t.numel() * t.element_size()
                   for t in (self.stats, self.lo, self.scale, self.seen_min,
                             self.seen_max))

    @torch.no_grad()
    def update(self, losses: Tensor, labels: Tensor, idx=None) -> None:
        """Add a batch of per-label BCE losses (Eq. 6) to the histograms.

        Args:
            losses (Tensor): ``(B, K)`` losses; non-finite ones are an error.
            labels (Tensor): ``(B, K)`` given labels (0/1 or bool).
            idx: unused (the instances' indices, which
                :class:`~mmbmix.models.utils.LossTable` keeps).
        """
        if losses.shape != labels.shape or losses.size(-1) != \
                self.num_classes:
            raise ValueError(
                f'LossHistogram.update: losses {tuple(losses.shape)} and '
                f'labels {tuple(labels.shape)} must both be (B, '
                f'{self.num_classes})')
        x = losses.detach().reshape(-1).to(self.stats.device, torch.float32)
        if not torch.isfinite(x.sum()):
            raise FloatingPointError(
                'LossHistogram.update: non-finite loss in the batch')
        g = label_groups(labels.to(self.stats.device)).reshape(-1)
        self.seen_max.scatter_reduce_(0, g, x, 'amax')
        self.seen_min.scatter_reduce_(0, g, x, 'amin')
        # positions in bins; values outside [0, num_bins) are counted in
        # the end bins with their own position, so the sums stay exact
        n, s1, s2 = _bin_atoms(
            x.double(),
            g,
            self.lo,
            self.scale,
            2 * self.num_classes,
            self.num_bins,
            clamp=False)[:3]
        self.stats += torch.stack((n, s1, s2))

    def all_reduce(self) -> None:
        """Sum the histograms of all ranks (one all-reduce) and agree on the
        ranges seen."""
        from mmengine.dist import all_reduce, get_dist_info
        if get_dist_info()[1] == 1:
            return
        all_reduce(self.stats, op='sum')
        all_reduce(self.seen_max, op='max')
        all_reduce(self.seen_min, op='min')

    def fit(self, split: str = 'always', **gmm_kwargs) -> GMMParams:
        """Fit the 2K mixtures (Eq. 7) to this epoch's histograms.

        Args:
            split (str): the split rule of
                :func:`~mmbmix.models.utils.clean_prob` (``'bic'`` needs
                every loss and is refused). Defaults to ``'always'``.
            **gmm_kwargs: ``max_iter``, ``tol``, ``reg_covar``,
                ``min_samples``, ``min_var`` of :func:`fit_gmm_binned`.
        """
        n, s1, s2 = self.stats
        params = fit_gmm_binned(n, s1, s2, self.lo, self.scale, **gmm_kwargs)
        return split_rule(params, split)

    def next_epoch(self) -> None:
        """Empty the histograms; the next epoch's bins span the ranges seen
        in this one."""
        seen = torch.isfinite(self.seen_min)
        span = (self.seen_max - self.seen_min).double()
        ok = seen & (span > 0)
        self.lo = torch.where(seen, self.seen_min.double(), self.lo)
        self.scale = torch.where(ok, self.num_bins / span.clamp_min(1e-30),
                                 self.scale)
        self.stats.zero_()
        self.seen_min.fill_(math.inf)
        self.seen_max.fill_(-math.inf)

    def state_dict(self) -> dict:
        """The bins' ranges (what lasts from one epoch to the next; the
        counts are empty between epochs, where checkpoints are taken)."""
        return dict(lo=self.lo, scale=self.scale)

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            mine = getattr(self, name)
            if value.shape != mine.shape:
                raise ValueError(
                    f'LossHistogram: state field {name} has shape '
                    f'{tuple(value.shape)}, expected {tuple(mine.shape)}')
            setattr(self, name, value.to(mine))
