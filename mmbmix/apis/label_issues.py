"""The labels a BalanceMix run finds wrong (BalanceMix, Song et al., AAAI
2024): every label its selection does not keep clean (Eq. 8), with the value
Eq. 9 suggests where it re-labels, ranked by ``p_G``.
"""
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from mmbmix.models.utils.label_refinery import AMBIGUOUS, RELABELED

STATE_NAMES = {RELABELED: 'relabeled', AMBIGUOUS: 'ambiguous'}


def rank_label_issues(given: Tensor,
                      label_state: Tensor,
                      refined: Tensor,
                      p_clean: Optional[Tensor] = None,
                      confidence: Optional[Tensor] = None) -> dict:
    """The suspected wrong labels, most suspect first.

    A label is suspected when it is re-labeled (Eq. 9 changes its value) or
    ambiguous (neither clean by Eq. 8 nor confidently decided by Eq. 9).
    Labels whose value Eq. 9 confirmed, and clean labels, are not.

    Args:
        given (Tensor): ``(N, K)`` bool given labels.
        label_state (Tensor): ``(N, K)`` state codes of the label manager.
        refined (Tensor): ``(N, K)`` bool labels after Eq. 9.
        p_clean (Tensor, optional): ``(N, K)`` ``p_G`` of Eq. 8. The rank
            key: smallest first. Defaults to None (rank by confidence).
        confidence (Tensor, optional): ``(N, K)`` model confidences; ties
            (and, without ``p_clean``, everything) are ranked by how far the
            confidence is from the given value. Defaults to None.

    Returns:
        dict: numpy arrays of equal length, in rank order: ``index``,
        ``class_idx``, ``given`` (0/1), ``suggested`` (0/1; -1 for
        ambiguous labels), ``state`` ('relabeled' / 'ambiguous'),
        ``p_clean`` and ``confidence`` (NaN where not given).
    """
    if not (given.shape == label_state.shape == refined.shape):
        raise ValueError(f'label issues: given {tuple(given.shape)}, label '
                         f'state {tuple(label_state.shape)} and refined '
                         f'{tuple(refined.shape)} labels differ in shape')
    suspected = (label_state == RELABELED) | (label_state == AMBIGUOUS)
    idx, cls = suspected.nonzero(as_tuple=True)
    nan = torch.full((idx.numel(), ), float('nan'))
    p = nan if p_clean is None else p_clean[idx, cls].float()
    conf = nan if confidence is None else confidence[idx, cls].float()
    giv = given[idx, cls]
    state = label_state[idx, cls]
    suggested = torch.where(state == RELABELED, refined[idx, cls].long(), -1)
    disagreement = (conf - giv.float()).abs().nan_to_num(0.0)
    # lexsort: last key first -> p_G ascending, then re-labeled before
    # ambiguous, then larger disagreement with the given value
    order = np.lexsort((-disagreement.numpy(), (state != RELABELED).numpy(),
                        p.nan_to_num(0.0).numpy()))
    return dict(
        index=idx.numpy()[order],
        class_idx=cls.numpy()[order],
        given=giv.long().numpy()[order],
        suggested=suggested.numpy()[order],
        state=np.array([STATE_NAMES[int(s)] for s in state[order]],
                       dtype=object) if len(order) else np.array([],
                                                                 dtype=object),
        p_clean=p.numpy()[order],
        confidence=conf.numpy()[order])


def cleaned_labels(given: Tensor,
                   label_state: Tensor,
                   refined: Tensor,
                   drop_ambiguous: bool = False) -> Tensor:
    """``(N, K)`` bool labels with Eq. 9's re-labels applied; with
    ``drop_ambiguous``, ambiguous given positives are removed too (an
    annotation file lists positives only, so an ambiguous negative stays
    negative)."""
    labels = torch.where(label_state == RELABELED, refined, given)
    if drop_ambiguous:
        labels = labels & ~(label_state == AMBIGUOUS)
    return labels


def detection_scores(flagged: Tensor, given: Tensor, clean: Tensor) -> dict:
    """Precision and recall of ``flagged`` ``(N, K)`` bool as a detector of
    the wrong given labels (``given != clean``); None where nothing is
    flagged (precision) or nothing is wrong (recall)."""
    wrong = given != clean
    hits = int((flagged & wrong).sum())
    num_flagged, num_wrong = int(flagged.sum()), int(wrong.sum())
    return dict(
        flagged=num_flagged,
        wrong=num_wrong,
        detected=hits,
        precision=hits / num_flagged if num_flagged else None,
        recall=hits / num_wrong if num_wrong else None)
