"""Eq. 2-4 (minority score) and Eq. 9, 10, 12-13 (label management)."""
import pytest
import torch

from mmbmix.models.utils import (class_confidence, clean_prob, instance_score,
                                 label_diagnostics, label_states,
                                 label_weights, relabel, sampling_probs)
from mmbmix.models.utils.label_refinery import (AMBIGUOUS, CLEAN, CONFIRMED,
                                                RELABELED)


def test_eq2_to_eq4_by_hand():
    probs = torch.tensor([[0.9, 0.2], [0.6, 0.1], [0.3, 0.8]])
    labels = torch.tensor([[1, 0], [1, 0], [0, 1]], dtype=torch.bool)
    P, A = class_confidence(probs, labels)
    assert torch.allclose(P, torch.tensor([(0.9 + 0.6) / 2, 0.8]))
    assert torch.allclose(A, torch.tensor([1 - 0.3,
                                           ((1 - .2) + (1 - .1)) / 2]))
    score = instance_score(labels, P, A)
    expect = torch.tensor([P[0] + A[1], P[0] + A[1], A[0] + P[1]])
    assert torch.allclose(score, expect)
    p = sampling_probs(score)
    inv = 1 / expect.double()
    assert torch.allclose(p, inv / inv.sum())
    assert abs(p.sum().item() - 1) < 1e-12
    # The least confident instance is the most likely to be drawn.
    assert p.argmax() == expect.argmin()


def test_sampling_probs_never_nan():
    p = sampling_probs(torch.tensor([1.0, float('nan'), 2.0]))
    assert torch.isfinite(p).all() and torch.allclose(
        p,
        torch.full((3, ), 1 / 3).double())
    p = sampling_probs(torch.tensor([0.0, 1.0]))
    assert torch.isfinite(p).all() and p[0] > p[1]


def test_eq9_relabel_rule():
    conf = torch.tensor([[0.99, 0.01, 0.5, 0.99, 0.99, 0.01]])
    labels = torch.tensor([[0, 1, 1, 0, 1, 0]], dtype=torch.bool)
    clean = torch.tensor([[False, False, False, True, False, False]])
    refined, relabeled, confirmed = relabel(conf, labels, clean, 0.975)
    # not clean & conf > eps -> 1; not clean & conf < 1-eps -> 0;
    # in between stays; clean labels are never touched. Only a changed
    # value is re-labeled; a decision for the given value is confirmed.
    assert refined.tolist() == [[True, False, True, False, True, False]]
    assert relabeled.tolist() == [[True, True, False, False, False, False]]
    assert confirmed.tolist() == [[False, False, False, False, True, True]]
    refined, relabeled, _ = relabel(conf, labels, clean, 0.55)
    assert relabeled.tolist() == [[True, True, False, False, False, False]]
    refined, _, _ = relabel(
        torch.tensor([[0.6, 0.4]]), torch.tensor([[0, 1]], dtype=torch.bool),
        torch.zeros(1, 2, dtype=torch.bool), 0.55)
    assert refined.tolist() == [[True, False]]


def test_label_weights_and_ablation_switches():
    # clean, re-labeled, confirmed, ambiguous
    state = label_states(
        torch.tensor([[True, False, False, False]]),
        torch.tensor([[False, True, False, False]]),
        torch.tensor([[False, False, True, False]]))
    assert state.tolist() == [[CLEAN, RELABELED, CONFIRMED, AMBIGUOUS]]
    p_g = torch.tensor([[0.9, 0.3, 0.4, 0.2]])
    assert torch.allclose(
        label_weights(state, p_g), torch.tensor([[1.0, 1.0, 1.0, 0.2]]))
    w = label_weights(state, p_g, use_ambiguous=False)
    assert w.tolist() == [[1.0, 1.0, 1.0, 0.0]]
    w = label_weights(state, p_g, use_relabel=False, use_ambiguous=False)
    assert w.tolist() == [[1.0, 0.0, 0.0, 0.0]]
    # without re-labeling, Eq. 9's labels are ambiguous: weight p_G
    w = label_weights(state, p_g, use_relabel=False)
    assert torch.allclose(w, torch.tensor([[1.0, 0.3, 0.4, 0.2]]))


def test_eq12_eq13_diagnostics():
    true = torch.tensor([[1, 0, 0, 1]], dtype=torch.bool)
    given = torch.tensor([[1, 1, 0, 0]], dtype=torch.bool)  # 2 correct
    clean = torch.tensor([[True, True, False, False]])  # 1 of 2 correct
    relabeled = torch.tensor([[False, False, False, True]])
    refined = torch.tensor([[1, 1, 0, 1]], dtype=torch.bool)
    d = label_diagnostics(given, true, clean, relabeled, refined)
    assert d['precision'] == 0.5
    assert d['recall'] == 0.5
    assert d['relabel_proportion'] == 0.25
    assert d['relabel_accuracy'] == 1.0


def test_split_rules_keep_a_nearly_clean_set_whole():
    """A set of small, skewed losses (all labels agreed with) is carved in
    two by the plain mixture; 'disagree' keeps it whole, and still splits a
    set with a component of losses above log 2."""
    import pytest
    g = torch.Generator().manual_seed(0)
    agreed = torch.empty(3000).exponential_(20.0, generator=g)  # p ~ 0.95
    noisy = torch.cat([
        torch.empty(2000).exponential_(20.0, generator=g),
        2.5 + 0.3 * torch.randn(1000, generator=g)
    ])
    losses = torch.stack([agreed, noisy], 1)
    labels = torch.ones(3000, 2, dtype=torch.bool)
    p_always, _ = clean_prob(losses, labels)
    assert (p_always[:, 0] <= 0.5).float().mean() > 0.05  # carved
    p_dis, fitted = clean_prob(losses, labels, split='disagree')
    assert torch.all(p_dis[:, 0] == 1) and not fitted[1, 0]
    assert fitted[1, 1]
    assert torch.equal(p_dis[:, 1] > 0.5, p_always[:, 1] > 0.5)
    assert (p_dis[2000:, 1] <= 0.5).all() and (p_dis[:2000, 1] > 0.5).all()
    with pytest.raises(ValueError, match="split must be 'always'"):
        clean_prob(losses, labels, split='never')


def test_eq12_over_the_given_positives_by_hand():
    """precision_pos / recall_pos: Eq. 12 restricted to the given positive
    labels (the paper's Table 7 cannot be over all labels)."""
    from mmbmix.models.utils.label_refinery import state_counts, state_figures

    # 2 x 3; given positives (0, 0) correct, (0, 1) wrong, (1, 2) correct
    given = torch.tensor([[1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    true = torch.tensor([[1, 0, 0], [0, 1, 1]], dtype=torch.bool)
    # clean: (0, 0) and (0, 1) of the positives, (1, 0) of the negatives
    states = torch.tensor(
        [[CLEAN, CLEAN, AMBIGUOUS], [CLEAN, AMBIGUOUS, AMBIGUOUS]],
        dtype=torch.uint8)
    figs = state_figures(state_counts(given, true, states, given))
    assert figs['precision_pos'] == pytest.approx(1 / 2)  # (0,0) of 2
    assert figs['recall_pos'] == pytest.approx(1 / 2)  # (0,0) of (0,0),(1,2)
    # over all labels: clean 3, correct among them (0,0), (1,0): 2 of 3;
    # correct labels 4: (0,0), (0,2), (1,0), (1,2)
    assert figs['precision'] == pytest.approx(2 / 3)
    assert figs['recall'] == pytest.approx(2 / 4)
    # no clean positive: no precision_pos (no NaN)
    none = state_figures(
        state_counts(given, true, torch.full_like(states, AMBIGUOUS), given))
    assert 'precision_pos' not in none and none['recall_pos'] == 0.0
