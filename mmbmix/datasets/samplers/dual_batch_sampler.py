"""Dual batch sampler: random half plus minority half (BalanceMix, Song et
al., AAAI 2024, Eq. 4-5)."""
from typing import Iterator, List, Optional

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import BatchSampler, Sampler

from mmbmix.utils.dual_batch import join_dual_batch


@DATA_SAMPLERS.register_module()
class DualBatchSampler(BatchSampler):
    """Batches of a random half and an equally large minority half.

    Each batch holds ``batch_size`` indices from the wrapped ``sampler`` (an
    ordinary shuffled, rank-sharded sampler such as mmengine's
    ``DefaultSampler``: one pass over the data per epoch), followed by as
    many indices drawn from the minority sampler: with replacement, with the
    probabilities of Eq. 4 (uniform until :meth:`set_sampling_probs` is
    first called). The data preprocessor mixes instance ``i`` of the first
    half with instance ``i`` of the second (Eq. 5), so the model sees
    ``batch_size`` mixed instances per step, and an epoch has as many steps
    as the random sampler alone gives.

    Each rank draws its own minority stream from a generator seeded by
    ``(seed, epoch, rank)``; the epoch is the wrapped sampler's, so
    mmengine's ``DistSamplerSeedHook`` (which calls
    ``batch_sampler.sampler.set_epoch``) reaches it.

    Used as ``batch_sampler=dict(type='DualBatchSampler')`` next to
    ``sampler=dict(type='DefaultSampler', shuffle=True)`` in a dataloader
    config; the dataloader's ``batch_size`` is the random half's size.

    Args:
        sampler (Sampler): the random sampler (built by mmengine).
        batch_size (int): instances per half.
        drop_last (bool): drop the last random half if it is incomplete.
            Defaults to False.
        seed (int, optional): seed of the minority streams. Defaults to the
            wrapped sampler's ``seed``, else a seed synchronised over ranks.
    """

    def __init__(self,
                 sampler: Sampler,
                 batch_size: int,
                 drop_last: bool = False,
                 seed: Optional[int] = None) -> None:
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError('DualBatchSampler: batch_size must be a '
                             f'positive integer, got {batch_size!r}')
        super().__init__(sampler, batch_size, drop_last)
        if seed is None:
            seed = getattr(sampler, 'seed', None)
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.rank, _ = get_dist_info()
        self.num_instances = len(sampler.dataset)
        self._probs: Optional[torch.Tensor] = None
        self._cdf: Optional[torch.Tensor] = None

    @property
    def epoch(self) -> int:
        return int(getattr(self.sampler, 'epoch', 0))

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch of the wrapped sampler (and of the minority one)."""
        self.sampler.set_epoch(epoch)

    def set_sampling_probs(self, probs: Optional[torch.Tensor]) -> None:
        """Use these minority sampling probabilities (Eq. 4) from now on.

        Args:
            probs (Tensor | None): ``(N,)`` non-negative, finite, not all
                zero; normalised here. None returns to uniform sampling.
        """
        if probs is None:
            self._probs = self._cdf = None
            return
        probs = torch.as_tensor(probs, dtype=torch.float64).flatten().cpu()
        if probs.numel() != self.num_instances:
            raise ValueError(
                f'DualBatchSampler: got {probs.numel()} sampling '
                f'probabilities for a dataset of {self.num_instances}')
        if not torch.isfinite(probs).all() or (probs < 0).any() \
                or probs.sum() <= 0:
            raise ValueError('DualBatchSampler: sampling probabilities must '
                             'be finite, non-negative and not all zero')
        self._probs = probs / probs.sum()
        self._cdf = torch.cumsum(self._probs, 0)

    @property
    def sampling_probs(self) -> torch.Tensor:
        """The current ``(N,)`` minority sampling probabilities."""
        if self._probs is None:
            return torch.full((self.num_instances, ),
                              1.0 / self.num_instances,
                              dtype=torch.float64)
        return self._probs

    def _generator(self) -> torch.Generator:
        seq = np.random.SeedSequence([self.seed, self.epoch, self.rank])
        return torch.Generator().manual_seed(
            int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1)))

    def minority_indices(self, num: int) -> torch.Tensor:
        """Draw ``num`` indices with replacement from the minority sampler.

        Inverse-CDF sampling (``searchsorted``), O(num log N); its cost:
        ``benchmarks/sampler.py``.
        """
        g = self._generator()
        if self._cdf is None:
            return torch.randint(self.num_instances, (num, ), generator=g)
        u = torch.rand(num, generator=g, dtype=torch.float64) * self._cdf[-1]
        idx = torch.searchsorted(self._cdf, u, right=True)
        return idx.clamp_(max=self.num_instances - 1)

    def __iter__(self) -> Iterator[List[int]]:
        random_batches = list(super().__iter__())
        total = sum(len(b) for b in random_batches)
        minority = self.minority_indices(total).tolist()
        start = 0
        for batch in random_batches:
            end = start + len(batch)
            yield join_dual_batch(batch, minority[start:end])
            start = end
