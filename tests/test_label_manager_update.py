"""LabelManager.update on synthetic model outputs: Eq. 2-4 always, Eq. 6-9
only after the warm-up, label selection that beats the noise, and the Table 5
switches, each changing exactly what its row names."""
import pytest
import torch

from mmbmix.datasets.utils import as_label_csr
from mmbmix.models.utils import (LabelManager, class_confidence,
                                 instance_score, sampling_probs)
from mmbmix.models.utils.label_refinery import (AMBIGUOUS, CLEAN, CONFIRMED,
                                                RELABELED)


def _noisy_setup(n=3000, k=8, rate=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    true = torch.rand(n, k, generator=g) < 0.3
    flip = torch.rand(n, k, generator=g) < rate
    given = true ^ flip
    # A model that has learnt the true labels, not the noise: confident
    # where it is right, with some spread.
    logits = torch.where(true, 3.0, -3.0) + torch.randn(n, k, generator=g)
    return given, true, torch.sigmoid(logits)


class _View:
    """The old attribute names over a manager, for the tests below."""

    def __init__(self, manager):
        self.m = manager

    def update(self, *a, **k):
        self.m.update(*a, **k)

    def __getattr__(self, name):
        if name == 'label_weights':
            return lambda: self.m.training_targets()[1]
        return getattr(self.m.state, name)


def _hook(given, true, **kw):
    manager = LabelManager(
        warmup_epochs=2, shot_thresholds=(10**6, 1000), **kw)
    manager.reset(given, true)
    return _View(manager)


def test_warmup_updates_sampler_only():
    given, true, conf = _noisy_setup()
    hook = _hook(given, true)
    hook.update(1, conf)
    assert hook.label_state is None and hook.refined_labels is None
    P, A = class_confidence(conf, given)
    expect = sampling_probs(instance_score(given, P, A))
    # the manager sums Eq. 2 in float64 (batch by batch); float32 here
    torch.testing.assert_close(hook.sampling_probs, expect, rtol=1e-6, atol=0)
    assert not torch.allclose(hook.sampling_probs,
                              torch.full_like(expect, 1 / len(expect)))


def test_label_selection_and_relabeling_beat_the_noise():
    given, true, conf = _noisy_setup()
    hook = _hook(given, true)
    hook.update(2, conf)
    state = hook.label_state
    clean = state == CLEAN
    correct = given == true
    precision = correct[clean].float().mean().item()
    recall = (clean & correct).sum().item() / correct.sum().item()
    assert precision > 0.95 > correct.float().mean().item()
    assert recall > 0.85
    relabeled = state == RELABELED
    assert relabeled.any()
    # re-labeled means changed
    assert torch.all(hook.refined_labels[relabeled] != given[relabeled])
    # Re-labeled labels are mostly corrected to the truth.
    acc = (hook.refined_labels[relabeled] == true[relabeled]).float().mean()
    assert acc > 0.95
    # The weights of Eq. 10 follow from the state.
    w = hook.label_weights().float()
    decided = relabeled | (state == CONFIRMED)
    assert torch.all(w[clean | decided] == 1)
    amb = state == AMBIGUOUS
    assert torch.allclose(w[amb], hook.p_clean[amb].float())


def test_ablation_without_clean_keeps_given_labels():
    given, true, conf = _noisy_setup()
    hook = _hook(given, true, use_clean=False)
    hook.update(5, conf)
    assert hook.label_state is None and hook.sampling_probs is not None
    hook = _hook(given, true, use_minority_sampler=False)
    hook.update(5, conf)
    assert hook.sampling_probs is None and hook.label_state is not None
    assert hook.m.diagnostics()['few_shot_share'] == pytest.approx(
        hook.m.diagnostics()['few_shot_share_uniform'])


def test_non_finite_outputs_are_rejected():
    given, true, conf = _noisy_setup(n=50)
    conf[3, 2] = float('nan')
    hook = _hook(given, true)
    try:
        hook.update(3, conf)
    except FloatingPointError as e:
        assert 'non-finite' in str(e)
    else:
        raise AssertionError('NaN outputs must not reach the state')


# ------------------------------------------------ Table 5 switches
def _managed(**switches):
    """A manager after one managed epoch on 30% flips, and the state it
    would have with every switch on (the switches do not change Eq. 6-9)."""
    given, true, conf = _noisy_setup(n=2000)
    on = LabelManager(warmup_epochs=1)
    on.reset(given, true)
    on.update(1, conf)
    m = LabelManager(warmup_epochs=1, **switches)
    m.reset(given, true)
    m.update(1, conf)
    return m, on, given


def test_every_switch_on_trains_decisions_and_weights_ambiguous():
    m, _, given = _managed()
    targets, weights = m.training_targets()
    s = m.state.label_state
    assert torch.equal(targets, m.state.refined_labels)
    assert (targets != given).sum() == (s == RELABELED).sum() > 0
    assert torch.all(weights[(s == CLEAN) | (s == RELABELED)
                             | (s == CONFIRMED)] == 1)
    amb = s == AMBIGUOUS
    assert amb.any()
    assert torch.equal(weights[amb], m.state.p_clean[amb])


def test_without_relabel_no_refined_value_reaches_a_target():
    """Table 5 '+ clean labels' with ambiguous on: the labels Eq. 9 decided
    are trained as ambiguous, towards their given value, at p_G."""
    m, on, given = _managed(use_relabel=False)
    targets, weights = m.training_targets()
    assert torch.equal(targets, given)  # both halves' targets: given
    s = on.state.label_state
    decided = (s == RELABELED) | (s == CONFIRMED)
    assert decided.any()
    assert torch.equal(weights[decided], on.state.p_clean[decided])
    assert torch.all(weights[s == CLEAN] == 1)


def test_without_relabel_and_ambiguous_only_clean_labels_train():
    m, on, given = _managed(use_relabel=False, use_ambiguous=False)
    targets, weights = m.training_targets()
    assert torch.equal(targets, given)
    clean = on.state.label_state == CLEAN
    assert torch.equal(weights.bool(), clean)
    assert torch.all(weights[clean] == 1)


def test_without_ambiguous_they_weigh_zero():
    m, on, given = _managed(use_ambiguous=False)
    targets, weights = m.training_targets()
    s = on.state.label_state
    assert torch.equal(targets, on.state.refined_labels)
    assert torch.all(weights[s == AMBIGUOUS] == 0)
    assert torch.all(weights[s != AMBIGUOUS] == 1)


def test_without_clean_nothing_is_managed():
    m, _, _ = _managed(use_clean=False)
    assert m.training_targets() == (None, None)
    assert m.state.sampling_probs is not None


# ------------------------------------------------ no-op re-labels
def test_a_decision_that_keeps_the_value_is_confirmed_not_relabeled():
    """Eq. 9 with eps = 0.55 on a non-clean negative predicted 0.1 decides
    0: confirmed. A non-clean negative predicted 0.9 becomes 1: re-labeled.
    Eq. 13 counts only the second."""
    given = torch.zeros(40, 1, dtype=torch.bool)
    given[:20] = True
    true = given.clone()
    true[20] = True  # the 0.9 negative is really positive
    conf = torch.full((40, 1), 0.8)
    conf[20:, 0] = torch.linspace(0.05, 0.1, 20)
    conf[20, 0] = 0.9
    conf[21, 0] = 0.1
    m = LabelManager(
        warmup_epochs=1, relabel_threshold=0.55,
        gmm=dict(min_samples=1000))  # unfittable: all clean
    m.reset(given, true)
    m.update(1, conf)
    assert torch.all(m.state.label_state == CLEAN)
    # hand the rule two non-clean labels
    from mmbmix.models.utils import relabel
    clean = torch.ones(40, 1, dtype=torch.bool)
    clean[20:22] = False
    refined, relabeled, confirmed = relabel(conf, given, clean, 0.55)
    assert relabeled.flatten().nonzero().flatten().tolist() == [20]
    assert confirmed.flatten().nonzero().flatten().tolist() == [21]
    assert refined[20, 0] and not refined[21, 0]


def test_diagnostics_count_only_changed_labels_as_relabeled():
    given, true, conf = _noisy_setup(n=2000)
    m = LabelManager(warmup_epochs=1, relabel_threshold=0.55)
    m.reset(given, true)
    m.update(1, conf)
    s = m.state.label_state
    d = m.diagnostics()
    changed = m.state.refined_labels != given
    assert d['relabel_frac'] == pytest.approx(changed.float().mean().item())
    assert d['relabel_proportion'] == pytest.approx(d['relabel_frac'])
    assert d['confirmed_frac'] == pytest.approx(
        (s == CONFIRMED).float().mean().item())
    assert d['confirmed_frac'] > 0 and d['relabel_frac'] > 0
    acc = (m.state.refined_labels[changed] == true[changed]).float().mean()
    assert d['relabel_accuracy'] == pytest.approx(acc.item())


# ------------------------------------------------ Eq. 3 forms
def test_score_forms_by_hand():
    labels = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    P = torch.tensor([0.2, 0.6, 0.9, 0.9])
    A = torch.tensor([0.9, 0.8, 0.7, 0.5])
    literal = instance_score(labels, P, A)
    assert torch.allclose(
        literal,
        torch.tensor([
            0.2 + 0.8 + 0.7 + 0.5, 0.2 + 0.6 + 0.7 + 0.5, 0.9 + 0.8 + 0.7 + 0.5
        ]))
    mean = instance_score(labels, P, A, form='mean')
    assert torch.allclose(
        mean, torch.tensor([0.2 + 2.0 / 3, 0.4 + 0.6, 1.0 + 0.725]))
    # the least confident label: min over positives of P, negatives of A
    weakest = instance_score(labels, P, A, form='min')
    assert torch.allclose(weakest, torch.tensor([0.2, 0.2, 0.5]))
    csr = instance_score(as_label_csr(labels), P, A, form='min')
    assert torch.equal(csr, weakest)
    every = torch.ones(1, 4, dtype=torch.bool)  # no negative label
    assert instance_score(every, P, A, form='min').item() == pytest.approx(0.2)
    assert instance_score(
        as_label_csr(every), P, A, form='min').item() == pytest.approx(0.2)
    with pytest.raises(ValueError, match="form must be one of .*'min'"):
        instance_score(labels, P, A, form='sum')


def test_mean_form_favours_low_confidence_minority_labels():
    """K = 50 classes, one rare class the model is unsure of: the literal
    Eq. 3 barely moves the sampler off uniform, the mean form a little, the
    weakest-label form (min) by a factor of four."""
    g = torch.Generator().manual_seed(0)
    n, k = 5000, 50
    labels = torch.rand(n, k, generator=g) < 0.05
    rare = torch.rand(n, generator=g) < 0.02
    labels[:, 0] = rare
    conf = torch.where(labels, 0.9, 0.05)
    conf[:, 0] = torch.where(rare, 0.2, 0.05)
    shares = {}
    for form in ('literal', 'mean', 'min'):
        m = LabelManager(score_form=form, shot_thresholds=(10**6, 200))
        m.reset(labels)
        m.update(1, conf)
        shares[form] = m.diagnostics()['few_shot_share']
    uniform = rare.float().mean().item()
    assert shares['literal'] < 1.03 * uniform  # measured 1.016
    assert shares['mean'] > 1.15 * uniform  # measured 1.194
    assert shares['min'] > 3 * uniform  # measured 4.18


def test_clean_positives_keeps_every_given_positive():
    """Missing labels: the given positives are right but the model is
    unsure of half of them; by default the mixtures split them and Eq. 9
    (epsilon 0.55) re-labels the unsure ones negative. clean_positives=True
    keeps all of them clean and leaves the negatives' decisions as they
    were."""
    g = torch.Generator().manual_seed(0)
    n, k = 2000, 4
    true = torch.rand(n, k, generator=g) < 0.3
    given = true & (torch.rand(n, k, generator=g) < 0.5)  # half missing
    unsure = torch.rand(n, k, generator=g) < 0.5
    logit = torch.where(true, torch.where(unsure, -1.5, 3.0), -3.0)
    conf = torch.sigmoid(logit + 0.3 * torch.randn(n, k, generator=g))
    default = LabelManager(warmup_epochs=1, relabel_threshold=0.55)
    trusted = LabelManager(
        warmup_epochs=1, relabel_threshold=0.55, clean_positives=True)
    for m in (default, trusted):
        m.reset(given, true)
        m.update(1, conf)
    lost = (default.state.label_state == RELABELED) & given
    assert lost.sum() > 0.3 * (given & unsure).sum()  # the defect
    s = trusted.state
    assert (s.label_state[given] == CLEAN).all()
    assert s.refined_labels[given].all()
    assert (s.p_clean[given] == 1).all()
    # the negatives are decided as before
    assert s.label_state[~given].equal(default.state.label_state[~given])
    assert s.refined_labels[~given].equal(default.state.refined_labels[~given])


def test_shot_groups_fit_the_data_by_default():
    """No shot_thresholds: few-shot classes are those under the first
    tercile of the positive counts (here counts 90 60 30 10 5 2: the
    tercile is 8.33, so the last two classes), not the paper's COCO
    thresholds under which every class of a small set is few-shot."""
    counts = [90, 60, 30, 10, 5, 2]
    labels = torch.zeros(100, 6, dtype=torch.bool)
    for k, c in enumerate(counts):
        labels[torch.arange(c) * 7 % 100, k] = True
    m = LabelManager()
    m.reset(labels)
    assert m.shot_groups[1] == pytest.approx(5 + 2 / 3 * 5)
    rows = labels[:, 4] | labels[:, 5]
    d = m.diagnostics()
    assert d['few_shot_share_uniform'] == pytest.approx(rows.float().mean())
    paper = LabelManager(shot_thresholds=(10000, 1000))
    paper.reset(labels)
    assert paper.diagnostics()['few_shot_share_uniform'] == pytest.approx(
        labels.any(1).float().mean())  # every labelled row is "few-shot"
