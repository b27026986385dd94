"""The BalanceMix (Song et al., AAAI 2024) label manager without ``N x K``
state (Eq. 2-10, 12-13 evaluated batch by batch).

:class:`LabelManager` keeps every label's state as dense ``(N, K)`` tables;
at Open Images scale (9M images x 9,605 classes) they do not fit.
:class:`StreamingLabelManager` keeps what grows with N + positive labels +
K x bins only:

- the given (and, for diagnostics, clean) labels as ``scipy.sparse``
  CSR matrices;
- during an epoch, per class the sums of Eq. 2 and the loss histograms of
  Eq. 6 (:class:`LossHistogram`), added to from each batch's confidences;
- between epochs, the 2K fitted mixtures (Eq. 7) and the ``(N,)`` minority
  sampling probabilities (Eq. 3-4, from the CSR labels).

A label's ``p_G`` (Eq. 8), its re-labeling (Eq. 9) and its weight (Eq. 10)
are computed when its batch is trained, from the last fitted mixtures and
the batch's own confidences (:meth:`step`). Fed the same confidences, it
decides the same label states as :class:`LabelManager`
(``tests/test_streaming_label_manager.py``). Decisions and figures:
``docs/implementation_notes.md``.
"""
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from mmbmix.datasets.utils import as_label_csr, label_digest

from .gmm import GMMParams
from .label_manager import LabelManager
from .label_refinery import (label_bce, label_states, label_weights, relabel,
                             split_rule, state_counts, state_figures)
from .loss_histogram import LossHistogram
from .minority_score import (class_confidence_from_sums, instance_score,
                             sampling_probs)

PARAM_NAMES = GMMParams._fields


def _rows(csr, idx: Tensor) -> Tensor:
    """``(B, K)`` bool dense rows ``idx`` of a CSR matrix."""
    return torch.from_numpy(csr[idx.numpy()].toarray())


class StreamingLabelManager(LabelManager):
    """Minority statistics and label-wise management, batch by batch.

    The arguments of :class:`LabelManager`, plus:

    Args:
        num_bins (int): bins of each of the 2K loss histograms. Defaults to
            128.

    Use: :meth:`reset` with the labels, then per training batch
    :meth:`step` (observe the random half, get the batch's targets and
    weights), and :meth:`update` at the end of each epoch.
    ``gmm=dict(split='bic')`` is not available (it needs every loss).
    """

    def __init__(self, num_bins: int = 128, **kwargs) -> None:
        super().__init__(**kwargs)
        self.split = self.gmm.pop('split', 'always')
        split_rule(
            GMMParams(*(torch.zeros(1, 2), ) * 3, torch.zeros(1, dtype=bool)),
            self.split)  # a bad or unavailable rule fails here, named
        self.num_bins = int(self.gmm.pop('num_bins', num_bins))
        self.params: Optional[GMMParams] = None
        self.hist: Optional[LossHistogram] = None
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
        self.hist = LossHistogram(k, self.num_bins)
        if self._loaded.get('hist_lo') is not None:
            self.hist.lo = self._loaded['hist_lo'].double()
            self.hist.scale = self._loaded['hist_scale'].double()
        self._new_epoch()

    def label_digest(self) -> str:
        return label_digest(self.given)

    def check_state(self) -> None:
        """Raise if a loaded state does not fit the labels."""
        n, k = self.given.shape
        probs = self.state.sampling_probs
        if probs is not None and tuple(probs.shape) != (n, ):
            raise ValueError(
                'StreamingLabelManager: state field sampling_probs has shape '
                f'{tuple(probs.shape)}, but the training set needs ({n},): '
                'the checkpoint is from another dataset')
        if self.params is not None and self.params.fitted.numel() != 2 * k:
            raise ValueError(
                'StreamingLabelManager: the checkpoint holds '
                f'{self.params.fitted.numel() // 2}-class mixtures, but the '
                f'training set has {k} classes')

    def _new_epoch(self) -> None:
        k = self.given.shape[1]
        self._pos_sum = torch.zeros(k, dtype=torch.float64)
        self._all_sum = torch.zeros(k, dtype=torch.float64)
        self._seen = torch.zeros(1, dtype=torch.float64)
        self._counts: dict = {}

    # ------------------------------------------------------------- batch
    @torch.no_grad()
    def step(self, idx: Tensor, confidence: Tensor, num_random: int):
        """One training batch: add its random half to this epoch's
        statistics and give the targets and weights it is trained with.

        Args:
            idx (Tensor): ``(M,)`` dataset indices of the batch (the random
                half's ``num_random`` first, then the minority half).
            confidence (Tensor): ``(M, K)`` sigmoid outputs on the batch's
                views, before the step's update.
            num_random (int): size of the random half.

        Returns:
            tuple[Tensor, Tensor] | tuple[None, None]: ``(M, K)`` bool
            targets (Eq. 9) and ``(num_random, K)`` float16 weights (Eq. 10)
            of the random half; ``(None, None)`` before the first managed
            epoch.
        """
        if not torch.isfinite(confidence).all():
            raise FloatingPointError(
                'StreamingLabelManager: the model produced non-finite '
                'sigmoid outputs on a training batch')
        conf = confidence.float()
        given = _rows(self.given, idx)
        loss = label_bce(conf, given)  # Eq. 6
        r = slice(0, num_random)
        self._observe(conf[r], given[r], loss[r])
        if self.params is None or not self.use_clean:
            return None, None
        p_clean = LossHistogram.clean_prob(loss, given, self.params)  # Eq. 8
        if self.clean_positives:
            p_clean = torch.where(given, 1.0, p_clean)
        clean = p_clean > 0.5
        refined, relabeled, confirmed = relabel(conf, given, clean,
                                                self.relabel_threshold)
        # the random half's states: only its labels are weighted (Eq. 10)
        states = label_states(clean[r], relabeled[r], confirmed[r])
        # p_G in float16, as the dense manager keeps it
        weights = label_weights(states, p_clean[r].half(), self.use_relabel,
                                self.use_ambiguous).half()
        targets = refined if self.use_relabel else given
        true = None if self.true is None else _rows(self.true, idx[r])
        for key, value in state_counts(given[r], true, states, refined[r],
                                       targets[r], weights).items():
            self._counts[key] = self._counts.get(key, 0) + value
        return targets, weights

    def _observe(self, conf: Tensor, given: Tensor, loss: Tensor) -> None:
        """Eq. 2 sums and Eq. 6 histograms of the random half."""
        self._pos_sum += (conf * given).sum(0).double()
        self._all_sum += conf.sum(0).double()
        self._seen += conf.size(0)
        if self.use_clean:
            self.hist.update(loss, given)

    # ------------------------------------------------------------ update
    def update(self, epoch: int, confidence: Optional[Tensor] = None) -> None:
        """End of ``epoch`` (1-based): Eq. 2-4 from the epoch's sums and the
        CSR labels; from ``warmup_epochs`` on, the 2K mixtures (Eq. 7) from
        its histograms. Ranks must have summed their statistics first
        (:meth:`all_reduce`)."""
        from mmengine.dist import get_dist_info
        n = self.given.shape[0]
        seen = int(self._seen.item())
        if self.use_minority_sampler and seen > 0:
            # a distributed sampler pads its shards: up to world - 1 twice
            if not n <= seen < n + get_dist_info()[1]:
                raise RuntimeError(
                    f'StreamingLabelManager: {seen} instances came through '
                    f'the random half this epoch, not the {n} of the '
                    'training set (a random sampler without drop_last, one '
                    'pass per epoch, is needed)')
            P, A = class_confidence_from_sums(self._pos_sum, self._all_sum,
                                              self.num_pos, n)
            score = instance_score(self.given, P, A, self.score_form)
            self.state.sampling_probs = sampling_probs(score)
        self._epoch_counts = self._counts
        if self.use_clean and epoch >= self.warmup_epochs:
            params = split_rule(self.hist.fit(**self.gmm), self.split)
            self.params = params
            self.unfitted = ~params.fitted.reshape(2, -1)
        self.hist.next_epoch()
        self._new_epoch()

    def all_reduce(self) -> None:
        """Sum this epoch's statistics over ranks: one all-reduce of the
        sums (Eq. 2 sums, histograms ``3 x 2K x num_bins``, diagnostics
        counts) and one of the ranges seen (a max)."""
        from mmengine.dist import all_reduce, get_dist_info
        if get_dist_info()[1] == 1:
            return
        hist, keys = self.hist, sorted(self._counts)
        parts = [
            self._pos_sum, self._all_sum, self._seen,
            hist.stats.view(-1),
            torch.tensor([float(self._counts[k]) for k in keys],
                         dtype=torch.float64)
        ]
        sums = torch.cat(parts)
        all_reduce(sums, op='sum')
        for part, value in zip(parts[:4],
                               sums.split([p.numel() for p in parts])):
            part.copy_(value.view_as(part))
        counts = sums[-len(keys):] if keys else sums[:0]
        self._counts = {k: int(v) for k, v in zip(keys, counts.tolist())}
        ranges = torch.cat([hist.seen_max, -hist.seen_min])
        all_reduce(ranges, op='max')
        hist.seen_max.copy_(ranges[:hist.seen_max.numel()])
        hist.seen_min.copy_(-ranges[hist.seen_max.numel():])

    # ----------------------------------------------------------- outputs
    def training_targets(self):
        """``(None, None)``: targets and weights are given per batch by
        :meth:`step`."""
        return None, None

    def diagnostics(self, sampling_probs: Optional[Tensor] = None) -> dict:
        """As :meth:`LabelManager.diagnostics`, over the labels the last
        epoch trained (each random-half label once), without
        ``correct_left_out_again`` (it needs the previous epoch's states)."""
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
    def state_dict(self) -> dict:
        """Sampling probabilities ``(N,)``, the 2K mixtures, the histogram
        ranges and the label digest: nothing of size ``N x K``."""
        params = self.params
        state = dict(
            storage='sparse',
            sampling_probs=self.state.sampling_probs,
            hist_lo=None if self.hist is None else self.hist.lo,
            hist_scale=None if self.hist is None else self.hist.scale,
            label_digest=None if self.given is None else self.label_digest())
        for name in PARAM_NAMES:
            state[f'gmm_{name}'] = None if params is None else getattr(
                params, name)
        return state

    def load_state_dict(self, state: dict) -> None:
        if state and state.get('storage') != 'sparse' and any(
                state.get(name) is not None
                for name in ('label_state', 'refined_labels', 'p_clean')):
            raise ValueError(
                'StreamingLabelManager: the checkpoint holds a dense (N x K) '
                'label state (LabelManagerHook with sparse=False); resume '
                'with sparse=False, or start the label state anew')
        self._loaded = dict(state)
        self.state.sampling_probs = state.get('sampling_probs')
        if state.get('gmm_fitted') is not None:
            self.params = GMMParams(*(state[f'gmm_{name}']
                                      for name in PARAM_NAMES))
        else:
            self.params = None
        if self.hist is not None and state.get('hist_lo') is not None:
            self.hist.lo = state['hist_lo'].double()
            self.hist.scale = state['hist_scale'].double()
