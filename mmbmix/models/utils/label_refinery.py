"""Fine-grained label-wise management (BalanceMix, Song et al., AAAI 2024, Eq.
6-9, 12-13).

Pure tensor functions over ``(N, K)`` matrices; each equation lives in one of
them. :class:`~mmbmix.models.utils.LabelManager` calls them once per epoch.
"""
import math
from typing import NamedTuple, Optional

import torch

from .gmm import GMMParams, bic_prefers_two, fit_gmm_1d, gmm_posterior

# Label reliability codes, as stored in the label manager's state. RELABELED:
# Eq. 9 changed the label's value; CONFIRMED: Eq. 9 decided for the value it
# already had (trained at weight 1, not in the set R of Eq. 13).
CLEAN, RELABELED, AMBIGUOUS, CONFIRMED = 0, 1, 2, 3
# The mixture options of Eq. 7 (``fit_gmm_1d`` / ``fit_gmm_binned`` keyword
# arguments plus the split rule of :func:`clean_prob`); a user's ``gmm=``
# updates these, it does not replace them (:func:`gmm_options`).
GMM_DEFAULTS = dict(
    max_iter=10,
    tol=1e-2,
    reg_covar=5e-4,
    min_samples=8,
    min_var=5e-4,
    split='always')


def gmm_options(gmm: Optional[dict] = None) -> dict:
    """``GMM_DEFAULTS`` updated by ``gmm``; an unknown key is an error."""
    gmm = dict(gmm or {})
    unknown = sorted(set(gmm) - set(GMM_DEFAULTS) - {'num_bins'})
    if unknown:
        raise ValueError(f'gmm: unknown option(s) {unknown}; known: '
                         f'{sorted(GMM_DEFAULTS)} and num_bins')
    return {**GMM_DEFAULTS, **gmm}


AMBIGUOUS_RULES = ('weight', 'refine')


class LabelDecision(NamedTuple):
    """Eq. 8-10 for a block of labels (:func:`decide_labels`)."""
    p_clean: torch.Tensor  # float32 p_G, 1 for clean_positives
    states: torch.Tensor  # uint8 CLEAN / RELABELED / CONFIRMED / AMBIGUOUS
    refined: torch.Tensor  # bool labels after Eq. 9
    targets: torch.Tensor  # refined (or given without re-labeling); float
    #                        soft targets with ambiguous='refine'
    weights: torch.Tensor  # float32 Eq. 10


def decide_labels(p_clean: torch.Tensor,
                  confidence: torch.Tensor,
                  given: torch.Tensor,
                  relabel_threshold: float,
                  clean_positives: bool = False,
                  use_relabel: bool = True,
                  use_ambiguous: bool = True,
                  ambiguous: str = 'weight',
                  weight_floor: float = 0.0) -> LabelDecision:
    """The label-wise decision of BalanceMix for any block of labels.

    Eq. 8: a label is clean when ``p_G > 0.5`` (``clean_positives``: every
    given positive is clean). Eq. 9: a non-clean label whose mean
    confidence over the views is above ``relabel_threshold`` becomes 1,
    below ``1 - relabel_threshold`` 0. Eq. 10: clean and decided labels
    weigh 1, the others (ambiguous) ``p_G``; the Table 5 switches
    ``use_relabel`` / ``use_ambiguous`` as in :func:`label_weights`.

    Args:
        p_clean (Tensor): ``(B, K)`` ``p_G`` from the fitted mixtures.
        confidence (Tensor): ``(B, K)`` mean sigmoid output over the views.
        given (Tensor): ``(B, K)`` given labels.
        relabel_threshold (float): epsilon of Eq. 9.
        clean_positives (bool): given positives are clean. Defaults to
            False.
        use_relabel, use_ambiguous (bool): Table 5 switches. Default to
            True.
        ambiguous (str): ``'weight'`` (Eq. 10: given value at weight
            ``p_G``) or ``'refine'`` (DivideMix's label refinement: target
            ``p_G * y + (1 - p_G) * f(x)`` at weight 1; a variant).
            Defaults to ``'weight'``.
        weight_floor (float): ``'weight'`` only: an ambiguous label weighs
            at least this (a variant; 0 is the paper's). Defaults to 0.

    Returns:
        LabelDecision: every output of the decision, each ``(B, K)``.
    """
    given = given.bool()
    p_clean = p_clean.float()
    if clean_positives:
        p_clean = torch.where(given, 1.0, p_clean)
    clean = p_clean > 0.5
    refined, relabeled, confirmed = relabel(confidence, given, clean,
                                            relabel_threshold)
    states = label_states(clean, relabeled, confirmed)
    # p_G as the label state keeps it (float16)
    weights = label_weights(states, p_clean.half(), use_relabel, use_ambiguous)
    targets = refined if use_relabel else given
    if use_ambiguous and (ambiguous == 'refine' or weight_floor > 0):
        decided = (states == RELABELED) | (states == CONFIRMED)
        trained = (states == CLEAN) | (decided & use_relabel)
        if ambiguous == 'refine':  # p_G y + (1 - p_G) f(x), weight 1
            soft = p_clean * given.float() + (1 - p_clean) * confidence.float()
            targets = torch.where(trained, targets.float(), soft)
            weights = torch.ones_like(weights)
        else:
            weights = torch.where(trained, weights,
                                  weights.clamp_min(weight_floor))
    return LabelDecision(p_clean, states, refined, targets, weights)


def label_bce(probs: torch.Tensor,
              labels: torch.Tensor,
              eps: float = 1e-7) -> torch.Tensor:
    """Element-wise BCE of sigmoid outputs against labels (Eq. 6)."""
    p = probs.float().clamp(eps, 1 - eps)
    y = labels.float()
    return -(y * p.log() + (1 - y) * (1 - p).log())


def label_groups(labels: torch.Tensor) -> torch.Tensor:
    """The mixture (Eq. 6 set) of every label: ``k`` for a negative label
    of class k, ``K + k`` for a positive one; same shape as ``labels``."""
    k = labels.size(-1)
    return torch.arange(k, device=labels.device) + k * labels.long()


def clean_prob(losses: torch.Tensor,
               labels: torch.Tensor,
               split: str = 'always',
               **gmm_kwargs) -> torch.Tensor:
    """Clean-label probability ``p_G`` of every label (Eq. 6-8).

    Per class k, the losses of the positive labels and, separately, of the
    negative labels (Eq. 6) are each fit with a two-component 1-D Gaussian
    mixture (Eq. 7): 2K mixtures in one vectorised EM. ``p_G`` is the
    posterior of the smaller-mean component (Eq. 8). Sets too small or too
    uniform to fit count as clean (``p_G = 1``).

    Args:
        losses (Tensor): ``(N, K)`` per-label BCE losses (Eq. 6).
        labels (Tensor): ``(N, K)`` given labels.
        split (str): ``'always'`` splits every fittable set in two (the
            paper); ``'bic'`` only where two components beat one by BIC
            (:func:`bic_prefers_two`); ``'disagree'`` only where the noisy
            component's mean loss is above ``log 2`` (the model predicts
            against its labels on average). Sets not split count as clean.
            Defaults to ``'always'``.
        **gmm_kwargs: passed to :func:`fit_gmm_1d` (``max_iter``, ``tol``,
            ``reg_covar``, ``min_samples``, ``min_var``).

    Returns:
        tuple[Tensor, Tensor]: ``(N, K)`` float32 ``p_G``, and the ``(2, K)``
        bool mask of the mixtures that could be fit (row 0: negative labels,
        row 1: positive labels of each class).
    """
    n, k = losses.shape
    groups = label_groups(labels).reshape(-1)
    values = losses.reshape(-1)
    params = fit_gmm_1d(values, groups, 2 * k, **gmm_kwargs)
    params = split_rule(params, split, values, groups)
    return batch_clean_prob(losses, labels,
                            params), params.fitted.reshape(2, k)


def batch_clean_prob(losses: torch.Tensor, labels: torch.Tensor,
                     params: GMMParams) -> torch.Tensor:
    """``p_G`` (Eq. 8) of ``(B, K)`` per-label losses from fitted 2K
    mixtures (:func:`clean_prob` fits them on the whole set; the per-batch
    manager on the last epoch's statistics), as float32 ``(B, K)``."""
    p = gmm_posterior(
        losses.reshape(-1),
        label_groups(labels).reshape(-1), params)
    return p.view(losses.shape).float()


def split_rule(params: GMMParams,
               split: str,
               values: Optional[torch.Tensor] = None,
               groups: Optional[torch.Tensor] = None) -> GMMParams:
    """Keep ``fitted`` only for the mixtures the ``split`` rule of
    :func:`clean_prob` splits (``'bic'`` needs the fitted ``values`` and
    their ``groups``)."""
    if split == 'always':
        return params
    if split == 'bic':
        if values is None:
            raise ValueError("split='bic' needs the losses themselves; the "
                             'sparse label manager keeps only their '
                             "histograms (use 'always' or 'disagree')")
        return GMMParams(
            *params[:3],
            bic_prefers_two(values, groups, params, params.fitted.numel()))
    if split == 'disagree':
        # the noisy component must hold labels the model predicts against
        # on average (mean BCE above log 2, i.e. the prediction is on the
        # other side of 0.5)
        return GMMParams(*params[:3],
                         params.fitted & (params.means[:, 1] > math.log(2)))
    raise ValueError("clean_prob: split must be 'always', 'bic' or "
                     f"'disagree', got {split!r}")


def relabel(confidence: torch.Tensor, labels: torch.Tensor,
            clean: torch.Tensor, threshold: float):
    """Re-label non-clean labels from confident predictions (Eq. 9).

    For a label that is not clean, the mean confidence over the views above
    ``threshold`` decides 1, below ``1 - threshold`` decides 0.

    Args:
        confidence (Tensor): ``(N, K)`` mean sigmoid output over the views.
        labels (Tensor): ``(N, K)`` given labels.
        clean (Tensor): ``(N, K)`` bool, ``p_G > 0.5``.
        threshold (float): epsilon of Eq. 9, in (0.5, 1).

    Returns:
        tuple[Tensor, Tensor, Tensor]: the refined labels ``(N, K)`` bool;
        the re-labeled mask (a decision that changes the value: the set R of
        Eq. 13); the confirmed mask (a decision equal to the given value).
    """
    given = labels.bool()
    up = ~clean & (confidence > threshold)
    down = ~clean & (confidence < 1 - threshold)
    refined = (given | up) & ~down
    relabeled = refined != given
    return refined, relabeled, (up | down) & ~relabeled


def label_weights(label_state: torch.Tensor,
                  p_clean: torch.Tensor,
                  use_relabel: bool = True,
                  use_ambiguous: bool = True) -> torch.Tensor:
    """Per-label loss weight of Eq. 10.

    Clean labels weigh 1; labels decided by Eq. 9 (re-labeled or confirmed)
    weigh 1 with ``use_relabel``; every other label is ambiguous and weighs
    ``p_G`` with ``use_ambiguous``, else 0. Without re-labeling the labels
    Eq. 9 decided are ambiguous (Table 5: each switch changes exactly its
    row).

    Args:
        label_state (Tensor): ``(N, K)`` codes from :func:`label_states`.
        p_clean (Tensor): ``(N, K)`` ``p_G``.
        use_relabel (bool): train on the labels Eq. 9 decided. Defaults to
            True.
        use_ambiguous (bool): train on ambiguous labels weighted by ``p_G``.
            Defaults to True.
    """
    decided = (label_state == RELABELED) | (label_state == CONFIRMED)
    trained = (label_state == CLEAN) | (decided & use_relabel)
    w = trained.float()
    if use_ambiguous:
        w = torch.where(trained, w, p_clean.float())
    return w


def label_states(clean: torch.Tensor, relabeled: torch.Tensor,
                 confirmed: torch.Tensor) -> torch.Tensor:
    """``(N, K)`` uint8 codes: ``CLEAN``, ``RELABELED``, ``CONFIRMED`` or
    ``AMBIGUOUS``."""
    states = torch.full(clean.shape, AMBIGUOUS, dtype=torch.uint8)
    states[confirmed] = CONFIRMED
    states[relabeled] = RELABELED
    states[clean] = CLEAN
    return states


def label_diagnostics(given: torch.Tensor, true: torch.Tensor,
                      clean: torch.Tensor, relabeled: torch.Tensor,
                      refined: torch.Tensor) -> dict:
    """Label precision and recall (Eq. 12), re-label proportion and accuracy
    (Eq. 13), against the true labels.

    Args:
        given (Tensor): ``(N, K)`` given (noisy) labels.
        true (Tensor): ``(N, K)`` clean labels.
        clean (Tensor): ``(N, K)`` selected clean labels C.
        relabeled (Tensor): ``(N, K)`` re-labeled labels R.
        refined (Tensor): ``(N, K)`` labels after re-labeling.

    Returns:
        dict: ``precision``, ``recall``, ``relabel_proportion`` and
        ``relabel_accuracy`` in [0, 1] (left out where a denominator is 0).
        R holds only labels whose value changed.
    """
    correct = given.bool() == true.bool()
    return eq12_13(
        labels=given.numel(),
        clean=clean.sum().item(),
        correct=correct.sum().item(),
        clean_correct=(clean & correct).sum().item(),
        relabeled=relabeled.sum().item(),
        relabeled_correct=(relabeled &
                           (refined.bool() == true.bool())).sum().item())


def _ratio(a, b):
    return a / b if b else float('nan')


def eq12_13(labels, clean, correct, clean_correct, relabeled,
            relabeled_correct) -> dict:
    """Eq. 12-13 from counts (which can be summed over batches): label
    precision ``|C and correct| / |C|``, recall ``|C and correct| /
    |correct|``, re-label proportion ``|R| / labels`` and accuracy. A
    figure whose denominator is empty (no label re-labeled: no accuracy) is
    left out, not NaN, so that logs and JSON carry only defined figures."""
    figs = dict(
        precision=(clean_correct, clean),
        recall=(clean_correct, correct),
        relabel_proportion=(relabeled, labels),
        relabel_accuracy=(relabeled_correct, relabeled))
    return {key: a / b for key, (a, b) in figs.items() if b}


STATE_NAMES = (('clean', CLEAN), ('relabel', RELABELED),
               ('confirmed', CONFIRMED), ('ambiguous', AMBIGUOUS))


def state_counts(given: torch.Tensor,
                 true: Optional[torch.Tensor],
                 states: torch.Tensor,
                 refined: torch.Tensor,
                 targets: Optional[torch.Tensor] = None,
                 weights: Optional[torch.Tensor] = None) -> dict:
    """Counts behind the label manager's diagnostics, for a whole training
    set or summed over its batches (:func:`state_figures` turns them into
    fractions): labels per state and, when the clean labels ``true`` are
    known, those of Eq. 12-13, the correct given positives / negatives left
    out of the clean set, and the trained labels (weight > 0) whose target
    is wrong."""
    counts = {'labels': given.numel()}
    for key, code in STATE_NAMES:
        counts[key] = (states == code).sum().item()
    if true is None:
        return counts
    given, true = given.bool(), true.bool()
    clean = states == CLEAN
    relabeled = states == RELABELED
    correct = given == true
    counts.update(
        correct=correct.sum().item(),
        clean_correct=(clean & correct).sum().item(),
        relabeled=relabeled.sum().item(),
        relabeled_correct=(relabeled & (refined == true)).sum().item())
    for key, mask in (('pos', given), ('neg', ~given)):
        counts[f'correct_{key}'] = (correct & mask).sum().item()
        counts[f'correct_{key}_not_clean'] = (correct & mask
                                              & ~clean).sum().item()
    counts['clean_pos'] = (clean & given).sum().item()
    if targets is not None:
        trained = weights > 0
        counts['trained'] = trained.sum().item()
        counts['trained_wrong'] = (((targets > 0.5) != true)
                                   & trained).sum().item()
    return counts


def state_figures(counts: dict) -> dict:
    """The diagnostics of :func:`state_counts`' counts: ``<state>_frac``
    and, with clean labels, Eq. 12-13 (:func:`eq12_13`), Eq. 12 over the
    given positives only (``precision_pos``, ``recall_pos``; the paper's
    Table 7 figures cannot be over all labels: at its noise rates 94.5%
    precision is below the share of correct labels),
    ``correct_{pos,neg}_not_clean`` and ``trained_wrong_frac``."""
    figs = {
        f'{key}_frac': _ratio(counts[key], counts['labels'])
        for key, _ in STATE_NAMES
    }
    if 'correct' not in counts:
        return figs
    figs.update(
        eq12_13(
            **{
                key: counts[key]
                for key in ('labels', 'clean', 'correct', 'clean_correct',
                            'relabeled', 'relabeled_correct')
            }))
    for key in ('pos', 'neg'):
        figs[f'correct_{key}_not_clean'] = counts[
            f'correct_{key}_not_clean'] / max(counts[f'correct_{key}'], 1)
    if 'clean_pos' in counts:  # Eq. 12 over the given positives only
        kept = counts['correct_pos'] - counts['correct_pos_not_clean']
        if counts['clean_pos']:
            figs['precision_pos'] = kept / counts['clean_pos']
        if counts['correct_pos']:
            figs['recall_pos'] = kept / counts['correct_pos']
    if 'trained' in counts:
        figs['trained_wrong_frac'] = counts['trained_wrong'] / max(
            counts['trained'], 1)
    return figs
