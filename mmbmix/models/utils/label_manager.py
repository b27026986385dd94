"""The BalanceMix (Song et al., AAAI 2024) label manager (Eq. 2-10, 12-13) as a
plain object.

It owns the per-label state in one place, :class:`LabelState`, and turns the
model's confidences into that state once per epoch. It knows nothing about
runners or loaders: :class:`~mmbmix.engine.hooks.LabelManagerHook` feeds it
and hands its outputs to the sampler and the data preprocessor, the way
mmpretrain's ``EMAHook`` drives an averaged model. Decisions and figures:
``docs/implementation_notes.md``.
"""
import dataclasses
import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from mmengine.logging import print_log
from torch import Tensor

from mmbmix.datasets.utils import label_digest

from .label_refinery import (AMBIGUOUS_RULES, CLEAN, clean_prob, decide_labels,
                             gmm_options, label_bce, label_weights,
                             state_counts, state_figures)
from .minority_score import class_confidence, instance_score, sampling_probs

SCORE_FORMS = ('literal', 'mean')


@dataclass
class LabelState:
    """Everything the label manager keeps between epochs (and saves).

    Attributes:
        sampling_probs (Tensor | None): ``(N,)`` float64 minority sampling
            probabilities (Eq. 4); None: uniform.
        refined_labels (Tensor | None): ``(N, K)`` bool labels after Eq. 9.
        label_state (Tensor | None): ``(N, K)`` uint8 codes ``CLEAN``,
            ``RELABELED``, ``CONFIRMED``, ``AMBIGUOUS``; None before the
            first managed epoch.
        p_clean (Tensor | None): ``(N, K)`` float16 ``p_G`` (Eq. 8).
    """
    sampling_probs: Optional[Tensor] = None
    refined_labels: Optional[Tensor] = None
    label_state: Optional[Tensor] = None
    p_clean: Optional[Tensor] = None

    @staticmethod
    def names():
        return tuple(f.name for f in dataclasses.fields(LabelState))


class LabelManager:
    """Minority statistics and fine-grained label-wise management.

    From the mean sigmoid confidence of the model on every training instance
    (``(N, K)``, over the views of Eq. 9), :meth:`update`:

    1. computes P(k), A(k), Score and the minority sampling probabilities
       (Eq. 2-4);
    2. from epoch ``warmup_epochs`` on, fits the 2K per-class mixtures to the
       per-label BCE losses (Eq. 6-8), marks clean labels (``p_G > 0.5``),
       re-labels confident non-clean labels (Eq. 9) and keeps ``p_G`` for the
       ambiguous ones (Eq. 10).

    :meth:`training_targets` gives the targets and weights each label is
    trained with; :meth:`diagnostics` the figures of Eq. 12-13.

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
            all labels) or ``'mean'`` (mean over positives plus mean over
            negatives), see :func:`instance_score`. Defaults to
            ``'literal'``.
        gmm (dict, optional): mixture options (Eq. 7) that update
            ``GMM_DEFAULTS`` (``label_refinery``): ``max_iter``, ``tol``,
            ``reg_covar``, ``min_samples``, ``min_var``, ``split``. Defaults
            to None (the defaults).
        shot_thresholds (tuple[int, int]): positive-label counts above which
            a class is many-shot and below which it is few-shot (for the
            few-shot share of the sampler). Defaults to (10000, 1000).
        clean_positives (bool): take every given positive label as clean
            (Eq. 8 and 9 then decide the negatives only), for missing
            labels, where a given positive is never wrong. Defaults to False
            (the paper: every label is managed).
        ambiguous (str), weight_floor (float): how ambiguous labels are
            trained, see :func:`decide_labels` (variants other than the
            paper's ``'weight'`` and 0 take :class:`BatchLabelManager`).
            Default to ``'weight'`` and 0.
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
                 shot_thresholds: Sequence[int] = (10000, 1000),
                 clean_positives: bool = False,
                 ambiguous: str = 'weight',
                 weight_floor: float = 0.0) -> None:
        name = type(self).__name__
        if ambiguous not in AMBIGUOUS_RULES:
            raise ValueError(f'{name}: ambiguous must be one of '
                             f'{AMBIGUOUS_RULES}, got {ambiguous!r}')
        if not 0.0 <= float(weight_floor) <= 1.0:
            raise ValueError(f'{name}: weight_floor must be in [0, 1], got '
                             f'{weight_floor!r}')
        if name == 'LabelManager' and (ambiguous != 'weight'
                                       or weight_floor > 0):
            raise ValueError(
                f'{name}: ambiguous={ambiguous!r} / weight_floor='
                f'{weight_floor} are options of the per-batch manager '
                "(LabelManagerHook stats_source='batch')")
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
        many, few = shot_thresholds
        if not few <= many:
            raise ValueError(f'{name}: shot_thresholds must be (many, few) '
                             f'with few <= many, got {tuple(shot_thresholds)}')
        self.warmup_epochs = warmup_epochs
        self.clean_positives = bool(clean_positives)
        self.relabel_threshold = float(relabel_threshold)
        self.use_minority_sampler = use_minority_sampler
        self.use_clean = use_clean
        self.use_relabel = use_relabel
        self.use_ambiguous = use_ambiguous
        self.score_form = score_form
        self.gmm = gmm_options(gmm)
        self.shot_thresholds = (int(many), int(few))
        self.state = LabelState()
        self.given: Optional[Tensor] = None
        self.true: Optional[Tensor] = None
        self.unfitted: Optional[Tensor] = None  # (2, K) of the last fit
        self.left_out_again: Optional[float] = None

    # ------------------------------------------------------------ labels
    def reset(self, given: Tensor, true: Optional[Tensor] = None) -> None:
        """Bind the given ``(N, K)`` training labels (and the clean ones,
        where known, for diagnostics). A state loaded before must fit them
        (see :meth:`check_state`)."""
        self.given = torch.as_tensor(given, dtype=torch.bool)
        self.true = None if true is None else torch.as_tensor(
            true, dtype=torch.bool)
        labels = self.given if self.true is None else self.true
        few = labels.sum(0) < self.shot_thresholds[1]
        self.has_few_shot = labels[:, few].any(1)

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

    def check_state(self) -> None:
        """Raise if a loaded state does not have the labels' shape."""
        n, k = self.given.shape
        for name, value in dataclasses.asdict(self.state).items():
            shape = (n, ) if name == 'sampling_probs' else (n, k)
            if value is not None and tuple(value.shape) != shape:
                raise ValueError(
                    f'LabelManager: state field {name} has shape '
                    f'{tuple(value.shape)}, but the training set needs '
                    f'{shape}: the checkpoint is from another dataset')

    # ------------------------------------------------------------ update
    def update(self, confidence: Tensor, epoch: int) -> None:
        """Update the state from the confidences at the end of ``epoch``
        (1-based): Eq. 2-4 always, Eq. 6-9 from ``warmup_epochs`` on.

        Args:
            confidence (Tensor): ``(N, K)`` mean sigmoid output over the
                views, identical on every rank.
            epoch (int): the epoch that has just ended, 1-based.
        """
        given = self.given
        if not torch.isfinite(confidence).all():
            raise FloatingPointError(
                'LabelManager: the model produced non-finite sigmoid '
                f'outputs on the training set at epoch {epoch}')
        if self.use_minority_sampler:
            P, A = class_confidence(confidence, given)
            score = instance_score(given, P, A, self.score_form)
            self.state.sampling_probs = sampling_probs(score)
        if not self.use_clean or epoch < self.warmup_epochs:
            return
        p_clean, fitted = clean_prob(
            label_bce(confidence, given), given, **self.gmm)
        self.unfitted = ~fitted
        d = decide_labels(p_clean, confidence, given, self.relabel_threshold,
                          self.clean_positives, self.use_relabel,
                          self.use_ambiguous)
        if self.true is not None and self.state.label_state is not None:
            # the self-reinforcing loop: correct labels left out of the clean
            # set last epoch that are left out again
            left = (given == self.true) & (self.state.label_state != CLEAN)
            self.left_out_again = (left & (d.states != CLEAN)).sum().item() \
                / max(left.sum().item(), 1)
        self.state.p_clean = d.p_clean.half()
        self.state.refined_labels = d.refined
        self.state.label_state = d.states

    # ----------------------------------------------------------- outputs
    def training_targets(self):
        """``(targets, weights)``, each ``(N, K)``, that every label is
        trained with (Eq. 10), or ``(None, None)`` before the first managed
        epoch (the given labels at weight 1). Without re-labeling the targets
        are the given labels themselves."""
        s = self.state
        if s.label_state is None or not self.use_clean:
            return None, None
        targets = s.refined_labels if self.use_relabel else self.given
        weights = label_weights(s.label_state, s.p_clean, self.use_relabel,
                                self.use_ambiguous).half()
        return targets, weights

    def diagnostics(self, sampling_probs: Optional[Tensor] = None) -> dict:
        """Figures of the current state.

        ``few_shot_share``: the minority sampler's probability mass on
        instances with a few-shot label (``few_shot_share_uniform``: the
        same under uniform sampling); the fractions of clean / re-labeled /
        confirmed / ambiguous labels; and, when the clean labels are known,
        Eq. 12-13 plus the correct given positives and negatives left out of
        the clean set and the share of trained labels (weight > 0) whose
        target is wrong.

        Args:
            sampling_probs (Tensor, optional): ``(N,)`` the sampler's
                probabilities. Defaults to the state's (uniform if None).
        """
        probs = self.state.sampling_probs if sampling_probs is None \
            else sampling_probs
        n = self.given.size(0)
        if probs is None:
            probs = torch.full((n, ), 1.0 / n, dtype=torch.float64)
        diag = dict(
            few_shot_share=probs[self.has_few_shot].sum().item(),
            few_shot_share_uniform=self.has_few_shot.float().mean().item())
        s = self.state
        if s.label_state is None:
            return diag
        targets, weights = self.training_targets()
        diag.update(
            state_figures(
                state_counts(self.given, self.true, s.label_state,
                             s.refined_labels, targets, weights)))
        if self.true is not None and self.left_out_again is not None:
            diag['correct_left_out_again'] = self.left_out_again
        return diag

    # ------------------------------------------------------------- state
    def broadcast(self) -> None:
        """Give every rank rank 0's state, bit for bit."""
        from mmbmix.utils import broadcast_tensor
        for name in LabelState.names():
            value = getattr(self.state, name)
            if value is not None:
                setattr(self.state, name, broadcast_tensor(value))

    def state_dict(self) -> dict:
        state = dataclasses.asdict(self.state)
        state['label_digest'] = None if self.given is None \
            else self.label_digest()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.state = LabelState(
            **{name: state.get(name)
               for name in LabelState.names()})
