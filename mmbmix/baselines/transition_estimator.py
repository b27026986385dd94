"""Per-class 2 x 2 noise transition matrices from label correlations.

Li et al., "Estimating Noise Transition Matrix with Label Correlations for
Noisy Multi-Label Learning", NeurIPS 2022: the T-estimator baseline.

Notation: ``T[j, c, b] = P(y~_j = b | y_j = c)`` for class j, so
``T[j, 0, 1]`` is the rate ``rho_01`` of false positives and ``T[j, 1, 0]``
the rate ``rho_10`` of missed positives. Only the model's scores and the
given (noisy) labels are read, never the clean labels.

The estimate of class j (:func:`cooccurrence_transition`): if the noise of
class j depends only on ``y_j`` (see the assumption below), then for every
other class i

    P(y~_i = a, y~_j = b) = sum_c P(y~_i = a | y_j = c) D_j[c, b],
    D_j[c, b] = P(y_j = c) T[j, c, b].

The left side is the *noisy* co-occurrence, counted on the whole training
set; ``P(y~_i = a | y_j = c)`` is counted on the instances whose class-j
label is selected as clean with value c (:func:`small_loss_selection`). The
paper's bilinear problem in the prior ``P(y_j)`` and ``T_j`` is linear in
their product ``D_j``: it is solved in closed form by least squares over all
``i != j`` (``2 (K - 1)`` equations), and ``T_j`` is ``D_j`` with its rows
normalised. It is identifiable only when some class i is correlated with j
(the rows of the 2 x 2 blocks differ). The small-loss selection favours
prototypical instances, whose other labels are more typical too: it
exaggerates the correlations, and on the synthetic data of the tests the
rates come out about 0.05 high (0.01 with the truly clean labels selected).

Fallback (:func:`anchor_transition`): where a class has fewer than
``min_selected`` selected labels of a value, its correlations are too weak
(identifiability below ``min_identifiability`` or below the sampling noise
of the selected sets), or the solution is not a valid matrix, the
anchor-point estimate is used: the warm-up model, trained with BCE on the
noisy labels, estimates the noisy posterior
``P(y~_j = 1 | x) = rho_01 + (1 - rho_01 - rho_10) P(y_j = 1 | x)``, whose
low quantile over the instances labelled 0 and high quantile over those
labelled 1 estimate ``rho_01`` and ``1 - rho_10`` (Patrini et al., CVPR
2017).

``noise_type='missing'`` (missing labels, e.g. single positive) tells both
estimators that a given positive is always right: ``rho_01 = 0``.

Assumption: the identity holds when the noise of each class is independent
of the other classes given the clean labels (mmbmix's ``flip`` noise, or
positives missing independently). ``mislabel`` (a label moves to another
class) and ``single_positive`` (one positive kept per instance) couple the
noisy labels of an instance; on synthetic data their rates come out far too
low (about 0.1 for a true 0.39, and rho_10 0.38 for 0.66), as the paper's
class-conditional model does not describe them.

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
from typing import Tuple

import torch

NOISE_TYPES = ('general', 'missing')


def _check_noise_type(noise_type: str) -> None:
    if noise_type not in NOISE_TYPES:
        raise ValueError(f'noise_type must be one of {NOISE_TYPES}, got '
                         f'{noise_type!r}')


def small_loss_selection(scores: torch.Tensor,
                         labels: torch.Tensor,
                         ratio: float = 0.5) -> torch.Tensor:
    """Per class and label value, the ``ratio`` fraction of smallest BCE.

    Args:
        scores (Tensor): ``(N, K)`` sigmoid scores.
        labels (Tensor): ``(N, K)`` given (noisy) labels, bool or 0/1.
        ratio (float): fraction in (0, 1] kept among the instances with
            label 0, and among those with label 1, of each class.
            Defaults to 0.5.

    Returns:
        Tensor: ``(N, K)`` bool, the labels selected as clean.
    """
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f'ratio must be in (0, 1], got {ratio!r}')
    labels = labels.bool()
    # the BCE of a label is decreasing in the score given to its value
    agree = torch.where(labels, scores, 1 - scores)
    selected = torch.zeros_like(labels)
    for j in range(labels.size(1)):
        for value in (False, True):
            idx = (labels[:, j] == value).nonzero().flatten()
            num = int(round(ratio * idx.numel()))
            if num:
                top = agree[idx, j].topk(num).indices
                selected[idx[top], j] = True
    return selected


def _valid(t: torch.Tensor) -> bool:
    """Finite, and a positive is more likely labelled 1 than a negative."""
    return bool(torch.isfinite(t).all()) and bool(t[1, 1] > t[0, 1])


def cooccurrence_transition(
        labels: torch.Tensor,
        selected: torch.Tensor,
        noise_type: str = 'general',
        min_selected: int = 20,
        min_identifiability: float = 0.05
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Transition matrices from the noisy and the selected co-occurrences.

    Args:
        labels (Tensor): ``(N, K)`` given (noisy) labels.
        selected (Tensor): ``(N, K)`` bool, labels selected as clean.
        noise_type (str): ``'general'`` or ``'missing'`` (``rho_01 = 0``).
            Defaults to ``'general'``.
        min_selected (int): selected labels needed of each value of a class.
            Defaults to 20.
        min_identifiability (float): smallest singular value of the stacked
            ``P(y~_i | y_j)`` blocks over ``sqrt(K - 1)`` (about the RMS
            difference ``P(y~_i = 1 | y_j = 1) - P(y~_i = 1 | y_j = 0)``)
            below which the class counts as uncorrelated; at least
            ``sqrt(1 / n_0 + 1 / n_1)`` for ``n_c`` selected labels of value
            c (twice the largest standard error of such a difference), so
            that chance co-occurrences in small sets do not count.
            Defaults to 0.05.

    Returns:
        tuple[Tensor, Tensor]: ``(K, 2, 2)`` float32 matrices and ``(K, )``
        bool, the classes estimated (identity where not).
    """
    _check_noise_type(noise_type)
    y = labels.double()
    n, k = y.shape
    transition = torch.eye(2, dtype=torch.float64).repeat(k, 1, 1)
    ok = torch.zeros(k, dtype=torch.bool)
    if k < 2 or n == 0:
        return transition.float(), ok
    pos = y.mean(0)  # P(y~_i = 1)
    both = y.t() @ y / n  # P(y~_i = 1, y~_j = 1)
    # the entries of D_j free to fit, per column b (missing: D[0, 1] = 0)
    free = ([0, 1], [0, 1]) if noise_type == 'general' else ([0, 1], [1])
    for j in range(k):
        sets = [
            selected[:, j] & (labels[:, j].bool() == bool(c)) for c in (0, 1)
        ]
        counts = [int(s.sum()) for s in sets]
        if min(counts) < min_selected:
            continue
        others = torch.arange(k) != j
        # r[i, c] = P(y~_i = 1 | y_j = c); rows (i, a=1) then (i, a=0)
        r = torch.stack([y[s].mean(0) for s in sets], 1)[others]
        a_mat = torch.cat([r, 1 - r])
        m11 = both[others, j]
        m10 = pos[others] - m11
        m01 = pos[j] - m11
        b_mat = torch.cat([
            torch.stack([m10, m11], 1),
            torch.stack([1 - m10 - m11 - m01, m01], 1)
        ])
        noise = (1 / counts[0] + 1 / counts[1])**0.5
        if torch.linalg.svdvals(a_mat).min() < max(min_identifiability,
                                                   noise) * (k - 1)**0.5:
            continue
        d = torch.zeros(2, 2, dtype=torch.float64)
        for b, rows in enumerate(free):
            d[rows, b] = torch.linalg.lstsq(a_mat[:, rows],
                                            b_mat[:,
                                                  b:b + 1]).solution.flatten()
        d = d.clamp(min=0)
        prior = d.sum(1, keepdim=True)
        if (prior <= 0).any():
            continue
        t = d / prior
        if _valid(t):
            transition[j], ok[j] = t, True
    return transition.float(), ok


def anchor_transition(scores: torch.Tensor,
                      labels: torch.Tensor,
                      noise_type: str = 'general',
                      quantile: float = 0.97) -> torch.Tensor:
    """Anchor-point estimate from the noisy-posterior scores.

    Args:
        scores (Tensor): ``(N, K)`` sigmoid scores of a model trained on the
            noisy labels.
        labels (Tensor): ``(N, K)`` given (noisy) labels.
        noise_type (str): ``'general'`` or ``'missing'`` (``rho_01 = 0``).
            Defaults to ``'general'``.
        quantile (float): ``1 - rho_10`` is this quantile of a class's
            scores over its instances labelled 1, ``rho_01`` the
            ``1 - quantile`` one over those labelled 0 (robust maximum and
            minimum; taken per label value so that a rare class still has
            anchors above the quantile). Defaults to 0.97.

    Returns:
        Tensor: ``(K, 2, 2)`` float32 matrices.
    """
    _check_noise_type(noise_type)
    scores, labels = scores.double(), labels.bool()

    def masked_quantile(value, q):
        return torch.stack([
            s[m].quantile(q) if m.any() else s.new_tensor(float(value))
            for s, m in zip(scores.t(), (labels == value).t())
        ])

    high = masked_quantile(True, quantile)
    low = masked_quantile(False, 1 - quantile)
    if noise_type == 'missing':
        low = torch.zeros_like(low)
    rows = [torch.stack([1 - low, low], -1), torch.stack([1 - high, high], -1)]
    return torch.stack(rows, 1).float()


def estimate_transition(
        scores: torch.Tensor,
        labels: torch.Tensor,
        noise_type: str = 'general',
        select_ratio: float = 0.5,
        min_selected: int = 20,
        min_identifiability: float = 0.05,
        anchor_quantile: float = 0.97,
        max_noise: float = 0.9) -> Tuple[torch.Tensor, torch.Tensor]:
    """The T-estimator: selection, co-occurrence estimate, fallback.

    Args:
        scores (Tensor): ``(N, K)`` sigmoid scores of the warm-up model.
        labels (Tensor): ``(N, K)`` given (noisy) labels.
        noise_type (str): ``'general'`` or ``'missing'`` (``rho_01 = 0``).
            Defaults to ``'general'``.
        select_ratio (float): see :func:`small_loss_selection`.
            Defaults to 0.5.
        min_selected (int): see :func:`cooccurrence_transition`.
            Defaults to 20.
        min_identifiability (float): see :func:`cooccurrence_transition`.
            Defaults to 0.05.
        anchor_quantile (float): see :func:`anchor_transition`.
            Defaults to 0.97.
        max_noise (float): cap of ``rho_01 + rho_10`` (both are scaled down
            to it), which bounds the importance weights. Defaults to 0.9.

    Returns:
        tuple[Tensor, Tensor]: ``(K, 2, 2)`` float32 matrices and ``(K, )``
        bool, the classes that fell back to the anchor-point estimate.
    """
    selected = small_loss_selection(scores, labels, select_ratio)
    transition, ok = cooccurrence_transition(labels, selected, noise_type,
                                             min_selected, min_identifiability)
    fallback = ~ok
    if fallback.any():
        anchor = anchor_transition(scores, labels, noise_type, anchor_quantile)
        transition[fallback] = anchor[fallback]
    rates = torch.stack([transition[:, 0, 1], transition[:, 1, 0]], 1)
    scale = (max_noise /
             rates.sum(1, keepdim=True).clamp(min=1e-12)).clamp(max=1.0)
    rates = rates * scale
    transition = torch.stack([
        torch.stack([1 - rates[:, 0], rates[:, 0]], -1),
        torch.stack([rates[:, 1], 1 - rates[:, 1]], -1)
    ], 1)
    return transition, fallback
