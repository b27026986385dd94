"""The BalanceMix (Song et al., AAAI 2024) label manager (Eq. 2-4, 6-10,
12-13) as a plain object, with its statistics backend chosen once.

Algorithm 1 (arXiv 2312.07087, Appendix A) manages the labels of every
mini-batch before it is mixed (its line 13), under the current model, and
does two things once per epoch: the sampling probabilities of Eq. 4 (line
17) and the 2K mixtures fitted "to the loss of entire data" (line 18).
:class:`LabelManager` keeps exactly that:

- per batch (:meth:`LabelManager.step`): the batch's per-label losses under
  the current model (Eq. 6), ``p_G`` from this epoch's mixtures (Eq. 8), Eq.
  9 from the mean confidence over the views, Eq. 10's weights, all through
  :func:`~mmbmix.models.utils.label_refinery.decide_labels`; the random
  half's losses and confidences feed the epoch's statistics (each instance
  is in the random half once per epoch);
- per epoch (:meth:`LabelManager.update`): Eq. 2-4 from the epoch's sums and
  the 2K mixtures from the statistics backend, chosen once:
  ``statistics='exact'`` (:class:`LossTable`: every loss, exact EM) or
  ``'histogram'`` (:class:`LossHistogram`: no ``N x K`` state).

``update(epoch, confidence)`` with the confidences of the whole training set
is the per-epoch option (an eval pass after the epoch, or the recorded
random halves; the analysis tools' refit): the same statistics from all of
them, then every label decided at once and kept as a :class:`LabelState`
table for the next epoch. It knows nothing about runners or loaders:
:class:`~mmbmix.engine.hooks.LabelManagerHook` feeds it, the way mmpretrain's
``EMAHook`` drives an averaged model. Decisions and figures:
``docs/implementation_notes.md``.
"""
import dataclasses
import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.logging import print_log
from torch import Tensor

from mmbmix.datasets.utils import as_label_csr, label_digest
from mmbmix.evaluation.metrics.shot_group_map import tercile_thresholds

from .gmm import GMMParams
from .label_refinery import (AMBIGUOUS_RULES, CLEAN, batch_clean_prob,
                             decide_labels, gmm_options, label_bce,
                             label_weights, state_counts, state_figures)
from .loss_histogram import LossHistogram
from .loss_table import LossTable
from .minority_score import (SCORE_FORMS, class_confidence_from_sums,
                             instance_score, sampling_probs)

STATISTICS = ('exact', 'histogram')
PARAM_NAMES = GMMParams._fields


def _rows(csr, idx: Tensor) -> Tensor:
    """``(B, K)`` bool dense rows ``idx`` of a CSR matrix."""
    return torch.from_numpy(csr[idx.cpu().numpy()].toarray())


@dataclass
class LabelState:
    """The per-instance state the label manager keeps between epochs (and
    saves).

    Attributes:
        sampling_probs (Tensor | None): ``(N,)`` float64 minority sampling
            probabilities (Eq. 4); None: uniform.
        refined_labels (Tensor | None): per-epoch option only: ``(N, K)``
            bool labels after Eq. 9.
        label_state (Tensor | None): per-epoch option only: ``(N, K)`` uint8
            codes ``CLEAN``, ``RELABELED``, ``CONFIRMED``, ``AMBIGUOUS``;
            None before the first managed epoch.
        p_clean (Tensor | None): per-epoch option only: ``(N, K)`` float16
            ``p_G`` (Eq. 8).
    """
    sampling_probs: Optional[Tensor] = None
    refined_labels: Optional[Tensor] = None
    label_state: Optional[Tensor] = None
    p_clean: Optional[Tensor] = None

    @staticmethod
    def names():
        return tuple(f.name for f in dataclasses.fields(LabelState))


class LabelManager:
    """Minority statistics per epoch, label-wise management per batch.

    Use: :meth:`reset` with the labels; per training batch :meth:`step`
    (targets and weights of the batch's labels); at the end of each epoch
    :meth:`all_reduce` then :meth:`update` (Eq. 2-4, the mixtures of Eq. 7).
    The per-epoch option instead calls ``update(epoch, confidence)`` with
    the whole training set's confidences and reads
    :meth:`training_targets`. :meth:`diagnostics` gives the figures of Eq.
    12-13 over the labels the last epoch decided.

    Args:
        warmup_epochs (int): epochs of plain BCE on the mixed batch before
            label management starts (VOC 5, COCO 10, DeepFashion 5).
            Defaults to 5.
        relabel_threshold (float): epsilon of Eq. 9, in (0.5, 1); 0.975 for
            clean, mislabel and flip noise, 0.55 for single positive labels.
            Defaults to 0.975.
        use_minority_sampler (bool): compute Eq. 4; False keeps the mixing
            partner uniform (Table 5 "random sampler"). Defaults to True.
        use_clean (bool): manage labels at all (Eq. 6-10); False trains on
            the given labels with weight 1. Defaults to True.
        use_relabel (bool): train the labels Eq. 9 decides towards its
            decision at weight 1; False leaves them ambiguous (given value,
            weight ``p_G``). Defaults to True.
        use_ambiguous (bool): train ambiguous labels at weight ``p_G``; False
            gives them weight 0. Defaults to True.
        score_form (str): form of Eq. 3, ``'literal'`` (the paper's sum over
            all labels), ``'mean'`` (mean over positives plus mean over
            negatives) or ``'min'`` (the least confident label), see
            :func:`instance_score`. Defaults to ``'literal'``.
        gmm (dict, optional): mixture options (Eq. 7) that update
            ``GMM_DEFAULTS`` (``label_refinery``): ``max_iter``, ``tol``,
            ``reg_covar``, ``min_samples``, ``min_var``, ``split``. Defaults
            to None (the defaults).
        shot_thresholds (tuple[int, int], optional): positive-label counts
            above which a class is many-shot and below which it is few-shot
            (for the few-shot share of the sampler; the paper's COCO groups
            are (10000, 1000)). Defaults to None: from the training labels,
            the classes below the first tercile of the per-class positive
            counts are few-shot, above the second many-shot.
        clean_positives (bool): take every given positive label as clean
            (Eq. 8 and 9 then decide the negatives only), for missing
            labels, where a given positive is never wrong. Defaults to False
            (the paper: every label is managed).
        ambiguous (str), weight_floor (float): how ambiguous labels are
            trained, see :func:`decide_labels` (variants; per batch only).
            Default to ``'weight'`` and 0.
        statistics (str): backend of the per-epoch loss statistics,
            ``'exact'`` (:class:`LossTable`, ``N x K`` losses, exact EM) or
            ``'histogram'`` (:class:`LossHistogram`, ``3 x 2K x num_bins``
            whatever N; labels kept as CSR). Defaults to ``'exact'``.
        num_bins (int): bins of each histogram (``'histogram'`` only).
            Defaults to 128.
    """

    def __init__(self,
                 warmup_epochs: int = 5,
                 relabel_threshold: float = 0.975,
                 use_minority_sampler: bool = True,
                 use_clean: bool = True,
                 use_relabel: bool = True,
                 use_ambiguous: bool = True,
                 score_form: str = 'literal',
                 gmm: Optional[dict] = None,
                 shot_thresholds: Optional[Sequence[int]] = None,
                 clean_positives: bool = False,
                 ambiguous: str = 'weight',
                 weight_floor: float = 0.0,
                 statistics: str = 'exact',
                 num_bins: int = 128) -> None:
        name = type(self).__name__
        if ambiguous not in AMBIGUOUS_RULES:
            raise ValueError(f'{name}: ambiguous must be one of '
                             f'{AMBIGUOUS_RULES}, got {ambiguous!r}')
        if not 0.0 <= float(weight_floor) <= 1.0:
            raise ValueError(f'{name}: weight_floor must be in [0, 1], got '
                             f'{weight_floor!r}')
        self.ambiguous = ambiguous
        self.weight_floor = float(weight_floor)
        if not (isinstance(warmup_epochs, int) and warmup_epochs >= 0):
            raise ValueError(f'{name}: warmup_epochs must be a non-negative '
                             f'int, got {warmup_epochs!r}')
        if not 0.5 < float(relabel_threshold) < 1:
            raise ValueError(f'{name}: relabel_threshold must be in (0.5, '
                             f'1), got {relabel_threshold!r}')
        if score_form not in SCORE_FORMS:
            raise ValueError(f'{name}: score_form must be one of '
                             f'{SCORE_FORMS}, got {score_form!r}')
        if shot_thresholds is not None:
            many, few = shot_thresholds
            if not few <= many:
                raise ValueError(
                    f'{name}: shot_thresholds must be (many, few) with few '
                    f'<= many, got {tuple(shot_thresholds)}')
            shot_thresholds = (int(many), int(few))
        self.warmup_epochs = warmup_epochs
        self.clean_positives = bool(clean_positives)
        self.relabel_threshold = float(relabel_threshold)
        self.use_minority_sampler = use_minority_sampler
        self.use_clean = use_clean
        self.use_relabel = use_relabel
        self.use_ambiguous = use_ambiguous
        self.score_form = score_form
        self.gmm = gmm_options(gmm)
        self.shot_thresholds = shot_thresholds  # None: from the labels
        self.state = LabelState()
        if statistics not in STATISTICS:
            raise ValueError(f'{name}: statistics must be one of '
                             f'{STATISTICS}, got {statistics!r}')
        if statistics == 'histogram' and self.gmm['split'] == 'bic':
            raise ValueError(
                f"{name}: gmm split='bic' needs every loss; the 'histogram' "
                "statistics keep only their histograms (use 'always' or "
                "'disagree', or statistics='exact')")
        self.statistics = statistics
        self.num_bins = int(self.gmm.pop('num_bins', num_bins))
        self.params: Optional[GMMParams] = None  # this epoch's 2K mixtures
        self.stats = None
        self._loaded: dict = {}
        self._epoch_counts: dict = {}
        self.given = self.true = None  # CSR
        self.unfitted: Optional[Tensor] = None  # (2, K) of the last fit
        self.left_out_again: Optional[float] = None

    # ------------------------------------------------------------ labels
    def reset(self, given, true=None) -> None:
        """Bind the given ``(N, K)`` training labels (dense or scipy sparse;
        kept as CSR), and the clean ones where known (for diagnostics). A
        state loaded before must fit them (see :meth:`check_state`)."""
        self.given = as_label_csr(given)
        self.true = None if true is None else as_label_csr(true)
        n, k = self.given.shape
        labels = self.given if self.true is None else self.true
        counts = np.bincount(labels.indices, minlength=k)
        self.shot_groups = self.shot_thresholds or tercile_thresholds(counts)
        few = counts < self.shot_groups[1]
        self.has_few_shot = torch.from_numpy(
            np.diff((labels[:, np.flatnonzero(few)]).indptr) > 0)
        self.num_pos = torch.from_numpy(
            np.bincount(self.given.indices, minlength=k)).double()
        self.stats = LossTable(k, n) if self.statistics == 'exact' \
            else LossHistogram(k, self.num_bins)
        self.stats.load_state_dict(self._loaded.get('stats') or {})
        self._new_epoch()

    def label_digest(self) -> str:
        """SHA-256 of the given training labels (their shape and values)."""
        return label_digest(self.given)

    def labels_changed(self,
                       digest: Optional[str],
                       source: str,
                       allow: bool = False) -> bool:
        """Whether the bound labels differ from those of a checkpoint with
        label digest ``digest`` (None: nothing to compare). A change is an
        error naming ``source`` unless ``allow``."""
        now = self.label_digest()
        if digest is None or digest == now:
            return False
        if not allow:
            raise ValueError(
                'LabelManagerHook: the training labels differ from those the '
                f'checkpoint was made with (label digest {digest[:12]} in the '
                f'checkpoint, {now[:12]} now; dataset {source}). Restore the '
                'annotation file, or set allow_label_change=True (or the '
                'environment variable MMBMIX_ALLOW_LABEL_CHANGE=1) to resume '
                'anyway and rebuild the label state.')
        return True

    def check_num_classes(self, model, dataset) -> None:
        """The model's K must be the training set's."""
        k = self.given.shape[1]
        for field, value in (('model.head.num_classes',
                              getattr(
                                  getattr(model, 'head', None), 'num_classes',
                                  k)), ('data_preprocessor.num_classes',
                                        getattr(model.data_preprocessor,
                                                'num_classes', k))):
            if value is not None and value != k:
                raise ValueError(
                    f'LabelManagerHook: config field {field} is {value}, but '
                    f'the training set {type(dataset).__name__} '
                    f'({getattr(dataset, "ann_file", "")}) has {k} classes')

    def check_warmup(self, max_epochs: int) -> None:
        """Warn when the warm-up never ends: with ``warmup_epochs >=
        max_epochs`` no label is ever managed (the run is Mixup with the
        minority sampler)."""
        if self.use_clean and self.warmup_epochs >= max_epochs:
            print_log(
                f'LabelManagerHook: warmup_epochs={self.warmup_epochs} >= '
                f'train_cfg.max_epochs={max_epochs}: no label is ever '
                'managed (Eq. 6-10 start after the warm-up); lower '
                'warmup_epochs or train longer',
                logger='current',
                level=logging.WARNING)

    def check_labels_unchanged(self,
                               digest: Optional[str],
                               source: str,
                               allow: bool = False) -> None:
        """:meth:`labels_changed`; an allowed change rebuilds the state
        (with a warning)."""
        if self.labels_changed(digest, source, allow):
            print_log(
                'LabelManagerHook: the training labels differ from the '
                "checkpoint's; allowed: the label state is rebuilt.",
                logger='current',
                level=logging.WARNING)
            self.load_state_dict({})

    def report_unfitted(self) -> None:
        """Warn once per change which label sets the last update did not
        split (their labels count as clean)."""
        sets = self.unfitted_sets()
        if sets and tuple(sets) != getattr(self, '_reported', None):
            self._reported = tuple(sets)
            more = ' ...' if len(sets) > 20 else ''
            print_log(
                f'LabelManagerHook: {len(sets)} label sets are not '
                'split by a mixture and are treated as clean: ' +
                ', '.join(sets[:20]) + more,
                logger='current',
                level=logging.WARNING)

    def unfitted_sets(self) -> list:
        """Names of the label sets the last update did not split (too
        small, too uniform, or not split by the ``gmm`` split rule)."""
        if self.unfitted is None:
            return []
        return [
            f'{kind} labels of class {k}'
            for kind, row in zip(('negative', 'positive'), self.unfitted)
            for k in row.nonzero().flatten().tolist()
        ]

    def check_state(self, per_batch: bool = True) -> None:
        """Raise if a loaded state does not fit the labels, or (``per_batch``)
        holds only a per-epoch table without the mixtures that
        :meth:`step` needs."""
        n, k = self.given.shape
        for name, value in dataclasses.asdict(self.state).items():
            shape = (n, ) if name == 'sampling_probs' else (n, k)
            if value is not None and tuple(value.shape) != shape:
                raise ValueError(
                    f'LabelManager: state field {name} has shape '
                    f'{tuple(value.shape)}, but the training set needs '
                    f'{shape}: the checkpoint is from another dataset')
        if self.params is not None and self.params.fitted.numel() != 2 * k:
            raise ValueError(
                'LabelManager: the checkpoint holds '
                f'{self.params.fitted.numel() // 2}-class mixtures, but the '
                f'training set has {k} classes')
        if per_batch and self.params is None and \
                self.state.label_state is not None:
            raise ValueError(
                'LabelManager: the checkpoint holds a per-epoch (N x K) '
                'label state without mixtures (LabelManagerHook with '
                "stats_source='audit' or 'online' of an earlier mmbmix); "
                'resume with that stats_source, or start the label state '
                'anew')

    def _new_epoch(self) -> None:
        k = self.given.shape[1]
        self._pos_sum = torch.zeros(k, dtype=torch.float64)
        self._all_sum = torch.zeros(k, dtype=torch.float64)
        self._seen = torch.zeros(1, dtype=torch.float64)
        self._counts: dict = {}

    @property
    def managing(self) -> bool:
        """Whether labels are decided (mixtures fitted: after the
        warm-up)."""
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
        conf = self._checked(confidence, 'a training batch')
        idx = idx[:conf.size(0)].cpu()
        given = _rows(self.given, idx)
        loss = label_bce(conf, given)  # Eq. 6
        r = slice(0, num_random)
        self._observe(idx[r], conf[r], given[r], loss[r])
        if not self.managing:
            return None, None
        d = self._decide(conf, given, loss)
        true = None if self.true is None else _rows(self.true, idx[r])
        for key, value in state_counts(given[r], true, d.states[r],
                                       d.refined[r], d.targets[r],
                                       d.weights[r]).items():
            self._counts[key] = self._counts.get(key, 0) + value
        return d.targets, d.weights

    def _checked(self, confidence: Tensor, what: str) -> Tensor:
        if not torch.isfinite(confidence).all():
            raise FloatingPointError(
                'LabelManager: the model produced non-finite sigmoid '
                f'outputs on {what}')
        return confidence.float().cpu()

    def _decide(self, conf: Tensor, given: Tensor, loss: Tensor):
        """Eq. 8-10 under this epoch's mixtures."""
        p_clean = batch_clean_prob(loss, given, self.params)  # Eq. 8
        return decide_labels(p_clean, conf, given, self.relabel_threshold,
                             self.clean_positives, self.use_relabel,
                             self.use_ambiguous, self.ambiguous,
                             self.weight_floor)

    def _observe(self, idx, conf: Tensor, given: Tensor, loss: Tensor):
        """Eq. 2 sums and Eq. 6 statistics of the random half."""
        self._pos_sum += (conf * given).sum(0).double()
        self._all_sum += conf.sum(0).double()
        self._seen += conf.size(0)
        if self.use_clean:
            self.stats.update(loss, given, idx)

    # ------------------------------------------------------------ update
    @torch.no_grad()
    def update(self, epoch: int, confidence: Optional[Tensor] = None) -> None:
        """End of ``epoch`` (1-based): Eq. 2-4 from the epoch's sums; from
        ``warmup_epochs`` on, the 2K mixtures (Eq. 7) from its statistics.
        Ranks must have summed their statistics first (:meth:`all_reduce`).

        Args:
            epoch (int): the epoch that has just ended, 1-based.
            confidence (Tensor, optional): the per-epoch option: ``(N, K)``
                mean sigmoid output over the views on the whole training
                set, identical on every rank. It replaces the epoch's
                per-batch statistics, and every label is then decided at
                once (the :class:`LabelState` table of
                :meth:`training_targets`). Defaults to None.
        """
        from mmengine.dist import get_dist_info
        n = self.given.shape[0]
        if confidence is not None:
            conf = self._checked(confidence, f'the training set at epoch '
                                 f'{epoch}')
            given = torch.from_numpy(self.given.toarray())
            self._new_epoch()
            loss = label_bce(conf, given)  # Eq. 6, once for both uses
            self._observe(torch.arange(n), conf, given, loss)
        seen = int(self._seen.item())
        if self.use_minority_sampler and seen > 0:
            # a distributed sampler pads its shards: up to world - 1 twice
            if not n <= seen < n + get_dist_info()[1]:
                raise RuntimeError(
                    f'LabelManager: {seen} instances came through the '
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
            if confidence is not None:
                self._decide_all(conf, given, loss)
        self.stats.next_epoch()
        self._new_epoch()

    def _decide_all(self, conf: Tensor, given: Tensor, loss: Tensor) -> None:
        """The per-epoch option: every label at once, kept as the table."""
        d = self._decide(conf, given, loss)
        true = None if self.true is None else \
            torch.from_numpy(self.true.toarray())
        old = self.state.label_state
        if true is not None and old is not None:
            # the self-reinforcing loop: correct labels left out of the clean
            # set last epoch that are left out again
            left = (given == true) & (old != CLEAN)
            self.left_out_again = (left & (d.states != CLEAN)).sum().item() \
                / max(left.sum().item(), 1)
        self.state.p_clean = d.p_clean.half()
        self.state.refined_labels = d.refined
        self.state.label_state = d.states
        self._epoch_counts = state_counts(given, true, d.states, d.refined,
                                          *self.training_targets())

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
    def training_targets(self, idx: Optional[Tensor] = None):
        """The per-epoch option's ``(targets, weights)`` (Eq. 10) of rows
        ``idx`` (all ``(N, K)`` if None), or ``(None, None)`` where no table
        was decided (per batch, or before the first managed epoch: the
        given labels at weight 1). Without re-labeling the targets are the
        given labels themselves."""
        s = self.state
        if s.label_state is None or not self.use_clean:
            return None, None
        rows = slice(None) if idx is None else idx
        state, p_clean = s.label_state[rows], s.p_clean[rows]
        targets = s.refined_labels[rows] if self.use_relabel else (
            torch.from_numpy(self.given.toarray()) if idx is None else _rows(
                self.given, idx))
        weights = label_weights(state, p_clean, self.use_relabel,
                                self.use_ambiguous).half()
        return targets, weights

    def diagnostics(self, sampling_probs: Optional[Tensor] = None) -> dict:
        """Figures of the last epoch.

        ``few_shot_share``: the minority sampler's probability mass on
        instances with a few-shot label (``few_shot_share_uniform``: the
        same under uniform sampling); over the labels the last epoch decided
        (per batch: each random-half label once, when its batch was
        trained): the fractions of clean / re-labeled / confirmed /
        ambiguous labels and, when the clean labels are known, Eq. 12-13,
        the correct given positives and negatives left out of the clean set
        and the share of trained labels (weight > 0) whose target is wrong;
        per epoch also ``correct_left_out_again``.

        Args:
            sampling_probs (Tensor, optional): ``(N,)`` the sampler's
                probabilities. Defaults to the state's (uniform if None).
        """
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
        if self.true is not None and self.left_out_again is not None:
            diag['correct_left_out_again'] = self.left_out_again
        return diag

    # ------------------------------------------------------------- state
    def broadcast(self) -> None:
        """Give every rank rank 0's state and mixtures, bit for bit."""
        from mmbmix.utils import broadcast_tensor
        for name in LabelState.names():
            value = getattr(self.state, name)
            if value is not None:
                setattr(self.state, name, broadcast_tensor(value))
        if self.params is not None:
            self.params = GMMParams(*map(broadcast_tensor, self.params))

    def state_dict(self) -> dict:
        """The :class:`LabelState` (per batch: the ``(N,)`` sampling
        probabilities only, nothing of size ``N x K``), the 2K mixtures, the
        statistics backend's own state and the label digest; ``storage``
        says whether a per-epoch table is in it (``'epoch'``) or not
        (``'batch'``)."""
        state = dataclasses.asdict(self.state)
        state.update(
            storage='batch' if self.state.label_state is None else 'epoch',
            statistics=self.statistics,
            stats=None if self.stats is None else self.stats.state_dict(),
            label_digest=None if self.given is None else self.label_digest())
        for name in PARAM_NAMES:
            state[f'gmm_{name}'] = None if self.params is None else getattr(
                self.params, name)
        return state

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        if state.get('hist_lo') is not None:  # checkpoints before 2026-12-04
            state['stats'] = dict(
                lo=state['hist_lo'], scale=state['hist_scale'])
        if state.get('stats') and self.statistics == 'exact':
            state['stats'] = {}
        self._loaded = state
        self.state = LabelState(
            **{name: state.get(name)
               for name in LabelState.names()})
        if state.get('gmm_fitted') is not None:
            self.params = GMMParams(*(state[f'gmm_{name}']
                                      for name in PARAM_NAMES))
        else:
            self.params = None
        if self.stats is not None:
            self.stats.load_state_dict(state.get('stats') or {})
