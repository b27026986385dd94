"""Fine-grained label-wise management (BalanceMix, Song et al., AAAI 2024, Eq.
6-9, 12-13).

Pure tensor functions over ``(N, K)`` matrices; each equation lives in one of
them. :class:`~mmbmix.models.utils.LabelManager` calls them once per epoch.
"""
import math

import torch

from .gmm import GMMParams, bic_prefers_two, fit_gmm_1d, gmm_posterior

# Label reliability codes, as stored in the label manager's state. RELABELED:
# Eq. 9 changed the label's value; CONFIRMED: Eq. 9 decided for the value it
# already had (trained at weight 1, not in the set R of Eq. 13).
CLEAN, RELABELED, AMBIGUOUS, CONFIRMED = 0, 1, 2, 3


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
    if split == 'bic':
        params = GMMParams(*params[:3],
                           bic_prefers_two(values, groups, params, 2 * k))
    elif split == 'disagree':
        # the noisy component must hold labels the model predicts against
        # on average (mean BCE above log 2, i.e. the prediction is on the
        # other side of 0.5)
        params = GMMParams(*params[:3],
                           params.fitted & (params.means[:, 1] > math.log(2)))
    elif split != 'always':
        raise ValueError("clean_prob: split must be 'always', 'bic' or "
                         f"'disagree', got {split!r}")
    p_clean = gmm_posterior(values, groups, params).reshape(n, k).float()
    return p_clean, params.fitted.reshape(2, k)


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
        ``relabel_accuracy`` in [0, 1] (NaN where a denominator is 0). R
        holds only labels whose value changed.
    """
    correct = given.bool() == true.bool()
    hit = (clean & correct).sum().item()

    def ratio(a, b):
        return a / b if b else float('nan')

    n_relabeled = relabeled.sum().item()
    relabel_hit = (relabeled & (refined.bool() == true.bool())).sum().item()
    return dict(
        precision=ratio(hit,
                        clean.sum().item()),
        recall=ratio(hit,
                     correct.sum().item()),
        relabel_proportion=ratio(n_relabeled, given.numel()),
        relabel_accuracy=ratio(relabel_hit, n_relabeled))
