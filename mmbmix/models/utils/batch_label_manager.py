"""The BalanceMix (Song et al., AAAI 2024) label manager as Algorithm 1 runs
it: label-wise management per mini-batch (Eq. 8-10), statistics per epoch
(Eq. 2-4, 6-7).

Algorithm 1 (arXiv 2312.07087, Appendix A) manages the labels of every
mini-batch before it is mixed (its line 13), under the current model, and
does two things once per epoch: the sampling probabilities of Eq. 4 (line
17) and the 2K mixtures fitted "to the loss of entire data" (line 18).
:class:`BatchLabelManager` keeps exactly that:

- per batch (:meth:`BatchLabelManager.step`): the batch's per-label losses
  under the current model (Eq. 6), ``p_G`` from this epoch's mixtures (Eq.
  8), Eq. 9 from the mean confidence over the views, Eq. 10's weights, all
  through :func:`~mmbmix.models.utils.label_refinery.decide_labels`; the
  random half's losses and confidences feed the epoch's statistics (each
  instance is in the random half once per epoch);
- per epoch (:meth:`BatchLabelManager.update`): Eq. 2-4 from the epoch's
  sums and the 2K mixtures from its statistics backend, chosen once:
  ``statistics='exact'`` (:class:`LossTable`: every loss, exact EM) or
  ``'histogram'`` (:class:`LossHistogram`: no ``N x K`` state; labels as
  CSR).

Decisions and figures: ``docs/implementation_notes.md``.
"""
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from mmbmix.datasets.utils import as_label_csr

from .gmm import GMMParams
from .label_manager import LabelManager
from .label_refinery import (batch_clean_prob, decide_labels, label_bce,
                             state_counts, state_figures)
from .loss_histogram import LossHistogram
from .loss_table import LossTable
from .minority_score import (class_confidence_from_sums, instance_score,
                             sampling_probs)

PARAM_NAMES = GMMParams._fields
STATISTICS = ('exact', 'histogram')


def _rows(csr, idx: Tensor) -> Tensor:
    """``(B, K)`` bool dense rows ``idx`` of a CSR matrix."""
    return torch.from_numpy(csr[idx.cpu().numpy()].toarray())


class BatchLabelManager(LabelManager):
    """Minority statistics per epoch, label-wise management per batch.

    The arguments of :class:`LabelManager`, plus:

    Args:
        statistics (str): backend of the per-epoch loss statistics,
            ``'exact'`` (:class:`LossTable`, ``N x K`` losses, exact EM) or
            ``'histogram'`` (:class:`LossHistogram`, ``3 x 2K x num_bins``
            whatever N). Defaults to ``'exact'``.
        num_bins (int): bins of each histogram (``'histogram'`` only).
            Defaults to 128.

    Use: :meth:`reset` with the labels, then per training batch
    :meth:`step`, and :meth:`all_reduce` then :meth:`update` at the end of
    each epoch.
    """

    def __init__(self,
                 statistics: str = 'exact',
                 num_bins: int = 128,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if statistics not in STATISTICS:
            raise ValueError(f'BatchLabelManager: statistics must be one of '
                             f'{STATISTICS}, got {statistics!r}')
        if statistics == 'histogram' and self.gmm['split'] == 'bic':
            raise ValueError(
                "BatchLabelManager: gmm split='bic' needs every loss; the "
                "'histogram' statistics keep only their histograms (use "
                "'always' or 'disagree', or statistics='exact')")
        self.statistics = statistics
        self.num_bins = int(self.gmm.pop('num_bins', num_bins))
        self.params: Optional[GMMParams] = None
        self.stats = None
        self._loaded: dict = {}
        self._epoch_counts: dict = {}

    # ------------------------------------------------------------ labels
    def reset(self, given, true=None) -> None:
        """Bind the given ``(N, K)`` training labels (dense or scipy sparse;
        kept as CSR), and the clean ones where known."""
        self.given = as_label_csr(given)
        self.true = None if true is None else as_label_csr(true)
        n, k = self.given.shape
        labels = self.given if self.true is None else self.true
        few = np.bincount(labels.indices, minlength=k) < \
            self.shot_thresholds[1]
        self.has_few_shot = torch.from_numpy(
            np.diff((labels[:, np.flatnonzero(few)]).indptr) > 0)
        self.num_pos = torch.from_numpy(
            np.bincount(self.given.indices, minlength=k)).double()
        self.stats = LossTable(k, n) if self.statistics == 'exact' \
            else LossHistogram(k, self.num_bins)
        self.stats.load_state_dict(self._loaded.get('stats') or {})
        self._new_epoch()

    def check_state(self) -> None:
        """Raise if a loaded state does not fit the labels."""
        n, k = self.given.shape
        probs = self.state.sampling_probs
        if probs is not None and tuple(probs.shape) != (n, ):
            raise ValueError(
                'BatchLabelManager: state field sampling_probs has shape '
                f'{tuple(probs.shape)}, but the training set needs ({n},): '
                'the checkpoint is from another dataset')
        if self.params is not None and self.params.fitted.numel() != 2 * k:
            raise ValueError(
                'BatchLabelManager: the checkpoint holds '
                f'{self.params.fitted.numel() // 2}-class mixtures, but the '
                f'training set has {k} classes')

    def _new_epoch(self) -> None:
        k = self.given.shape[1]
        self._pos_sum = torch.zeros(k, dtype=torch.float64)
        self._all_sum = torch.zeros(k, dtype=torch.float64)
        self._seen = torch.zeros(1, dtype=torch.float64)
        self._counts: dict = {}

    @property
    def managing(self) -> bool:
        """Whether :meth:`step` decides labels (after the warm-up)."""
        return self.params is not None and self.use_clean

    # ------------------------------------------------------------- batch
    @torch.no_grad()
    def step(self, idx: Tensor, confidence: Tensor, num_random: int):
        """One training batch, before its update: add its random half to
        this epoch's statistics and decide the labels of the whole batch.

        Args:
            idx (Tensor): ``(M,)`` dataset indices of the batch (the random
                half's ``num_random`` first, then the minority half).
            confidence (Tensor): ``(M, K)`` mean sigmoid output over the
                views under the current model (outside :attr:`managing`,
                ``M`` may be ``num_random``: only the statistics are kept).
            num_random (int): size of the random half.

        Returns:
            tuple[Tensor, Tensor] | tuple[None, None]: ``(M, K)`` targets
            (bool; float with ``ambiguous='refine'``) and ``(M, K)`` float32
            weights of each instance's own labels (Eq. 9-10);
            ``(None, None)`` outside :attr:`managing` (the given labels at
            weight 1).
        """
        if not torch.isfinite(confidence).all():
            raise FloatingPointError(
                'BatchLabelManager: the model produced non-finite sigmoid '
                'outputs on a training batch')
        conf = confidence.float().cpu()
        idx = idx[:conf.size(0)].cpu()
        given = _rows(self.given, idx)
        loss = label_bce(conf, given)  # Eq. 6
        r = slice(0, num_random)
        self._observe(idx[r], conf[r], given[r], loss[r])
        if not self.managing:
            return None, None
        p_clean = batch_clean_prob(loss, given, self.params)  # Eq. 8
        d = decide_labels(p_clean, conf, given, self.relabel_threshold,
                          self.clean_positives, self.use_relabel,
                          self.use_ambiguous, self.ambiguous,
                          self.weight_floor)
        true = None if self.true is None else _rows(self.true, idx[r])
        for key, value in state_counts(given[r], true, d.states[r],
                                       d.refined[r], d.targets[r],
                                       d.weights[r]).items():
            self._counts[key] = self._counts.get(key, 0) + value
        return d.targets, d.weights

    def _observe(self, idx, conf: Tensor, given: Tensor, loss: Tensor):
        """Eq. 2 sums and Eq. 6 statistics of the random half."""
        self._pos_sum += (conf * given).sum(0).double()
        self._all_sum += conf.sum(0).double()
        self._seen += conf.size(0)
        if self.use_clean:
            self.stats.update(loss, given, idx)

    # ------------------------------------------------------------ update
    def update(self, epoch: int, confidence: Optional[Tensor] = None) -> None:
        """End of ``epoch`` (1-based): Eq. 2-4 from the epoch's sums and the
        CSR labels; from ``warmup_epochs`` on, the 2K mixtures (Eq. 7) from
        its statistics. Ranks must have summed their statistics first
        (:meth:`all_reduce`)."""
        from mmengine.dist import get_dist_info
        n = self.given.shape[0]
        seen = int(self._seen.item())
        if self.use_minority_sampler and seen > 0:
            # a distributed sampler pads its shards: up to world - 1 twice
            if not n <= seen < n + get_dist_info()[1]:
                raise RuntimeError(
                    f'BatchLabelManager: {seen} instances came through the '
                    f'random half this epoch, not the {n} of the training '
                    'set (a random sampler without drop_last, one pass per '
                    'epoch, is needed)')
            P, A = class_confidence_from_sums(self._pos_sum, self._all_sum,
                                              self.num_pos, n)
            score = instance_score(self.given, P, A, self.score_form)
            self.state.sampling_probs = sampling_probs(score)
        self._epoch_counts = self._counts
        if self.use_clean and epoch >= self.warmup_epochs:
            self.params = self.stats.fit(**self.gmm)
            self.unfitted = ~self.params.fitted.reshape(2, -1)
        self.stats.next_epoch()
        self._new_epoch()

    def all_reduce(self) -> None:
        """Sum this epoch's statistics over ranks: the Eq. 2 sums and
        diagnostics counts in one all-reduce, the loss statistics in their
        backend's own."""
        from mmengine.dist import all_reduce, get_dist_info
        if get_dist_info()[1] == 1:
            return
        keys = sorted(self._counts)
        parts = [
            self._pos_sum, self._all_sum, self._seen,
            torch.tensor([float(self._counts[k]) for k in keys],
                         dtype=torch.float64)
        ]
        sums = torch.cat(parts)
        all_reduce(sums, op='sum')
        for part, value in zip(parts[:3],
                               sums.split([p.numel() for p in parts])):
            part.copy_(value.view_as(part))
        counts = sums[-len(keys):] if keys else sums[:0]
        self._counts = {k: int(v) for k, v in zip(keys, counts.tolist())}
        if self.use_clean:
            self.stats.all_reduce()

    # ----------------------------------------------------------- outputs
    def training_targets(self):
        """``(None, None)``: targets and weights are decided per batch by
        :meth:`step`."""
        return None, None

    def diagnostics(self, sampling_probs: Optional[Tensor] = None) -> dict:
        """As :meth:`LabelManager.diagnostics`, over the labels the last
        epoch trained (each random-half label once, decided when its batch
        was trained), without ``correct_left_out_again``."""
        probs = self.state.sampling_probs if sampling_probs is None \
            else sampling_probs
        n = self.given.shape[0]
        if probs is None:
            probs = torch.full((n, ), 1.0 / n, dtype=torch.float64)
        diag = dict(
            few_shot_share=probs[self.has_few_shot].sum().item(),
            few_shot_share_uniform=self.has_few_shot.float().mean().item())
        if self._epoch_counts:
            diag.update(state_figures(self._epoch_counts))
        return diag

    # ------------------------------------------------------------- state
    def broadcast(self) -> None:
        """Give every rank rank 0's probabilities and mixtures."""
        from mmbmix.utils import broadcast_tensor
        super().broadcast()
        if self.params is not None:
            self.params = GMMParams(*map(broadcast_tensor, self.params))

    def state_dict(self) -> dict:
        """Sampling probabilities ``(N,)``, the 2K mixtures, the statistics
        backend's own state and the label digest: nothing of size
        ``N x K``."""
        params = self.params
        state = dict(
            storage='batch',
            statistics=self.statistics,
            sampling_probs=self.state.sampling_probs,
            stats=None if self.stats is None else self.stats.state_dict(),
            label_digest=None if self.given is None else self.label_digest())
        for name in PARAM_NAMES:
            state[f'gmm_{name}'] = None if params is None else getattr(
                params, name)
        return state

    def load_state_dict(self, state: dict) -> None:
        if state and state.get('storage') not in ('batch', 'sparse') and any(
                state.get(name) is not None
                for name in ('label_state', 'refined_labels', 'p_clean')):
            raise ValueError(
                'BatchLabelManager: the checkpoint holds a per-epoch (N x K) '
                "label state (LabelManagerHook with stats_source='audit' or "
                "'online'); resume with that stats_source, or start the "
                'label state anew')
        state = dict(state)
        if state.get('hist_lo') is not None:  # checkpoints before 2026-12-04
            state['stats'] = dict(
                lo=state['hist_lo'], scale=state['hist_scale'])
        if state.get('stats') and self.statistics == 'exact':
            state['stats'] = {}
        self._loaded = state
        self.state.sampling_probs = state.get('sampling_probs')
        if state.get('gmm_fitted') is not None:
            self.params = GMMParams(*(state[f'gmm_{name}']
                                      for name in PARAM_NAMES))
        else:
            self.params = None
        if self.stats is not None:
            self.stats.load_state_dict(state.get('stats') or {})


class StreamingLabelManager(BatchLabelManager):
    """:class:`BatchLabelManager` with ``statistics='histogram'`` (no
    ``N x K`` state)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault('statistics', 'histogram')
        super().__init__(**kwargs)
