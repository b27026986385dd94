"""Confidence-based minority sampling (BalanceMix, Song et al., AAAI 2024, Eq.
2-4).

Three small, pure tensor functions; each equation lives in exactly one of
them. ``probs`` are the model's sigmoid outputs f(x)_k, ``labels`` the labels
the dataset *gives* (noisy), both ``(N, K)``.
"""
import numpy as np
import torch
from scipy import sparse

SCORE_FORMS = ('literal', 'mean', 'min')


def class_confidence(probs: torch.Tensor, labels: torch.Tensor):
    """Expected confidence per class for presence and absence (Eq. 2).

    Args:
        probs (Tensor): ``(N, K)`` sigmoid outputs.
        labels (Tensor): ``(N, K)`` given labels (bool or 0/1).

    Returns:
        tuple[Tensor, Tensor]: ``P`` and ``A``, each ``(K,)``: the mean of
        ``f(x)_k`` over instances with ``y_k = 1`` and the mean of
        ``1 - f(x)_k`` over instances with ``y_k = 0``. A class with no
        positive (negative) label gets ``P = 1`` (``A = 1``): there is nothing
        to be unsure about, and the value never enters Eq. 3 for it.
    """
    y = labels.to(probs.dtype) if probs.is_floating_point() else labels.float()
    probs = probs.to(y.dtype)
    return class_confidence_from_sums((probs * y).sum(0), probs.sum(0),
                                      y.sum(0), y.size(0))


def class_confidence_from_sums(pos_sum: torch.Tensor, all_sum: torch.Tensor,
                               num_pos: torch.Tensor, num: int):
    """Eq. 2 from per-class sums, which can be added up batch by batch.

    Args:
        pos_sum (Tensor): ``(K,)`` sum of ``f(x)_k`` over the instances with
            ``y_k = 1``.
        all_sum (Tensor): ``(K,)`` sum of ``f(x)_k`` over all instances.
        num_pos (Tensor): ``(K,)`` number of instances with ``y_k = 1``.
        num (int): number of instances.

    Returns:
        tuple[Tensor, Tensor]: ``P`` and ``A`` as in
        :func:`class_confidence`.
    """
    num_neg = num - num_pos
    a_sum = num_neg - (all_sum - pos_sum)  # sum of 1 - f over negatives
    P = torch.where(num_pos > 0, pos_sum / num_pos.clamp(min=1),
                    torch.ones_like(pos_sum))
    A = torch.where(num_neg > 0, a_sum / num_neg.clamp(min=1),
                    torch.ones_like(a_sum))
    return P, A


def instance_score(labels: torch.Tensor,
                   P: torch.Tensor,
                   A: torch.Tensor,
                   form: str = 'literal') -> torch.Tensor:
    """Confidence score of each instance (Eq. 3).

    ``form='literal'`` is the paper's Eq. 3 as written,
    ``Score(x) = sum_k [y_k = 1] P(k) + [y_k = 0] A(k)`` (one matrix-vector
    product: ``y @ (P - A) + sum_k A(k)``); its sum over the negatives makes
    it close to K for every instance. ``form='mean'`` weighs an instance's
    positive and negative labels comparably: the mean of ``P`` over its
    positives plus the mean of ``A`` over its negatives (a part with no
    label counts 1, full confidence). ``form='min'`` is the instance's least
    confident label, ``min(min_{y_k=1} P(k), min_{y_k=0} A(k))``: an
    instance with one hard (often rare) label is drawn ``1 / P(k)`` times as
    often as a fully confident one (a variant; issue 28). See
    ``docs/implementation_notes.md``.

    Args:
        labels (Tensor | scipy.sparse.csr_array): ``(N, K)`` given labels.
        P (Tensor): ``(K,)`` presence confidence from :func:`class_confidence`.
        A (Tensor): ``(K,)`` absence confidence.
        form (str): ``'literal'``, ``'mean'`` or ``'min'``. Defaults to
            ``'literal'``.

    Returns:
        Tensor: ``(N,)`` scores.
    """
    P, A = P.float(), A.float()
    if form not in SCORE_FORMS:
        raise ValueError(f'instance_score: form must be one of {SCORE_FORMS}'
                         f', got {form!r}')
    if form == 'min':
        return _weakest_label(labels, P, A)
    if sparse.issparse(labels):  # CSR: work and memory grow with positives

        def dot(v):
            return torch.from_numpy(
                np.asarray(labels @ v.numpy(), dtype=np.float32))

        n_pos = torch.from_numpy(np.diff(labels.indptr)).float()
        k = labels.shape[1]
    else:
        y = labels.float()

        def dot(v):
            return y @ v

        n_pos, k = y.sum(1), y.size(1)
    if form == 'literal':
        return dot(P - A) + A.sum()
    n_neg = k - n_pos
    pos = torch.where(n_pos > 0, dot(P) / n_pos.clamp(min=1), 1.0)
    neg = torch.where(n_neg > 0, (A.sum() - dot(A)) / n_neg.clamp(min=1), 1.0)
    return pos + neg


def _weakest_label(labels, P: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """``min(min_{y_k=1} P(k), min_{y_k=0} A(k))`` per instance; CSR rows
    without an ``N x K`` temporary."""
    if not sparse.issparse(labels):
        y = labels.bool()
        return torch.where(y, P, A).min(1).values
    n, k = labels.shape
    counts = np.diff(labels.indptr)
    p = P.numpy()
    pos = np.full(n, np.inf, dtype=np.float32)
    rows = np.flatnonzero(counts)
    if rows.size:
        pos[rows] = np.minimum.reduceat(p[labels.indices],
                                        labels.indptr[:-1][rows])
    # the smallest A over a row's negatives is among the (max positives + 1)
    # classes of smallest A
    order = np.argsort(
        A.numpy(), kind='stable')[:int(counts.max(initial=0)) + 1]
    taken = labels[:, order].toarray()
    first = np.argmin(taken, axis=1)  # the first of them that is negative
    neg = np.where(taken.all(1), np.inf, A.numpy()[order][first])
    return torch.from_numpy(np.minimum(pos, neg).astype(np.float32))


def sampling_probs(score: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Minority sampling probability, proportional to ``1 / Score`` (Eq. 4).

    Args:
        score (Tensor): ``(N,)`` instance scores (Eq. 3), non-negative.
        eps (float): floor on the score, so that an all-zero score (a model
            that is wrong on every label of an instance) stays finite.

    Returns:
        Tensor: ``(N,)`` float64 probabilities summing to 1. Non-finite
        scores fall back to the uniform distribution rather than reaching the
        sampler.
    """
    score = score.double()
    if score.numel() == 0:
        return score
    if not torch.isfinite(score).all():
        return torch.full_like(score, 1.0 / score.numel())
    inv = 1.0 / score.clamp(min=eps)
    return inv / inv.sum()
