"""Variants of the label management (issue "Label management that keeps
what AP needs"): the targets and weights each produces, by hand."""
import math

import pytest
import torch
from mmpretrain.structures import DataSample

from mmbmix.engine.hooks import LabelManagerHook
from mmbmix.models.losses import BalanceMixLoss
from mmbmix.models.utils import (BalanceMixDataPreprocessor, LabelManager,
                                 decide_labels)
from mmbmix.models.utils.label_refinery import (AMBIGUOUS, CLEAN, CONFIRMED,
                                                RELABELED)

# one instance, four labels: clean (p 0.9), ambiguous (p 0.2, conf 0.6),
# re-labeled 0 -> 1 (p 0.1, conf 0.99), ambiguous (p 0.01, conf 0.3)
P = torch.tensor([[0.9, 0.2, 0.1, 0.01]])
CONF = torch.tensor([[0.8, 0.6, 0.99, 0.3]])
GIVEN = torch.tensor([[1, 1, 0, 0]], dtype=torch.bool)


def test_the_papers_rule_weights_ambiguous_labels_by_p_g():
    d = decide_labels(P, CONF, GIVEN, 0.975)
    assert d.states.tolist() == [[CLEAN, AMBIGUOUS, RELABELED, AMBIGUOUS]]
    assert d.targets.tolist() == [[True, True, True, False]]
    torch.testing.assert_close(
        d.weights, torch.tensor([[1.0, 0.2, 1.0, 0.01]]), atol=1e-3, rtol=0)


def test_refine_trains_ambiguous_labels_towards_p_g_y_plus_rest_f_x():
    d = decide_labels(P, CONF, GIVEN, 0.975, ambiguous='refine')
    # clean and re-labeled as before; ambiguous: p y + (1 - p) f(x), w 1
    expect = torch.tensor(
        [[1.0, 0.2 * 1 + 0.8 * 0.6, 1.0, 0.01 * 0 + 0.99 * 0.3]])
    torch.testing.assert_close(d.targets, expect)
    torch.testing.assert_close(d.weights, torch.ones(1, 4))
    # without ambiguous labels (Table 5 row) they still weigh 0
    d = decide_labels(
        P, CONF, GIVEN, 0.975, use_ambiguous=False, ambiguous='refine')
    assert d.weights.tolist() == [[1.0, 0.0, 1.0, 0.0]]


def test_weight_floor_lifts_only_ambiguous_weights():
    d = decide_labels(P, CONF, GIVEN, 0.975, weight_floor=0.1)
    torch.testing.assert_close(
        d.weights, torch.tensor([[1.0, 0.2, 1.0, 0.1]]), atol=1e-3, rtol=0)
    assert d.targets.dtype == torch.bool  # hard targets kept
    d = decide_labels(
        P, CONF, GIVEN, 0.975, use_relabel=False, weight_floor=0.1)
    assert d.states[0, 2] == RELABELED and d.weights[0, 2] == pytest.approx(
        0.1)  # without re-labeling, an Eq. 9 label is ambiguous
    assert CONFIRMED not in d.states


def test_variants_are_checked_and_belong_to_the_per_batch_manager():
    with pytest.raises(ValueError, match='ambiguous must be one of'):
        LabelManager(ambiguous='drop')
    with pytest.raises(ValueError, match='weight_floor must be in'):
        LabelManager(weight_floor=2)
    with pytest.raises(ValueError, match="take stats_source='batch'"):
        LabelManagerHook(stats_source='online', ambiguous='refine')
    assert LabelManager(ambiguous='refine').ambiguous == 'refine'


def _pair_batch(targets, weights):
    samples = []
    for i, (t, w) in enumerate(zip(targets, weights)):
        s = DataSample(metainfo=dict(sample_idx=i)).set_gt_label([0])
        s.set_gt_score(t)
        s.set_field(w, 'label_weight')
        samples.append(s)
    inputs = torch.arange(len(samples), dtype=torch.float).view(-1, 1, 1, 1)
    return dict(
        inputs=inputs.expand(-1, 3, 2, 2).clone(), data_samples=samples)


def test_per_half_weighting_is_the_mixup_criterion():
    """label_weighting='per_half': the loss on the mixed batch equals
    lam w_R BCE(f, y_R) + (1 - lam) w_M BCE(f, y_M), label by label."""
    y = torch.tensor([[1., 0., 1.], [0., 1., 0.], [1., 1., 0.], [0., 0., 1.]])
    w = torch.tensor([[1., .5, 0.], [.2, 1., 1.], [0., 1., .3], [1., 0., 1.]])
    pre = BalanceMixDataPreprocessor(
        num_classes=3, mean=None, std=None, label_weighting='per_half')
    torch.manual_seed(0)
    out = pre(_pair_batch(y, w), training=True)
    logits = torch.tensor([[0.3, -1.2, 2.0], [-0.5, 0.7, 0.1]])
    got = BalanceMixLoss()(
        logits,
        torch.stack([s.gt_score for s in out['data_samples']]),
        weight=torch.stack([s.label_weight for s in out['data_samples']]))
    total = 0.0
    for j, (r, m) in enumerate([(0, 2), (1, 3)]):
        lam = (m - out['inputs'][j, 0, 0, 0].item()) / (m - r)
        for k in range(3):
            p = 1 / (1 + math.exp(-logits[j, k].item()))

            def bce(t):
                return -(t * math.log(p) + (1 - t) * math.log(1 - p))

            total += lam * w[r, k] * bce(y[r, k]) + (1 - lam) * w[m, k] * bce(
                y[m, k])
    assert got.item() == pytest.approx(total / 2, rel=1e-5)
    # the paper's rule: the random instance's weights only
    pre = BalanceMixDataPreprocessor(num_classes=3, mean=None, std=None)
    out = pre(_pair_batch(y, w), training=True)
    assert torch.equal(out['data_samples'][0].label_weight, w[0])
    with pytest.raises(ValueError, match='label_weighting'):
        BalanceMixDataPreprocessor(num_classes=3, label_weighting='both')


def test_a_warmup_that_never_ends_is_reported():
    from mmengine.logging import MMLogger
    logger = MMLogger.get_instance('mmbmix_warmup_test')
    messages = []
    handler = __import__('logging').Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger.addHandler(handler)
    m = LabelManager(warmup_epochs=6)
    m.check_warmup(max_epochs=7)
    assert not messages
    m.check_warmup(max_epochs=6)
    assert len(messages) == 1
    assert 'warmup_epochs=6 >= train_cfg.max_epochs=6' in messages[0]
    LabelManager(warmup_epochs=6, use_clean=False).check_warmup(6)
    assert len(messages) == 1  # nothing to manage: nothing to say


@pytest.mark.parametrize('kwargs',
                         [dict(ambiguous='refine'),
                          dict(weight_floor=0.3)])
def test_the_per_batch_manager_trains_with_the_variant(kwargs):
    """The manager's step hands the variant's targets and weights on: each
    label exactly as decide_labels makes it from the same p_G."""
    from mmbmix.models.utils import batch_clean_prob, label_bce
    g = torch.Generator().manual_seed(0)
    true = torch.rand(600, 5, generator=g) < 0.3
    given = true ^ (torch.rand(600, 5, generator=g) < 0.2)
    conf = torch.where(true, 0.6 + 0.4 * torch.rand(600, 5, generator=g),
                       0.4 * torch.rand(600, 5, generator=g))
    plain = LabelManager(warmup_epochs=1)
    variant = LabelManager(warmup_epochs=1, **kwargs)
    idx = torch.arange(600)
    for m in (plain, variant):
        m.reset(given, true)
        m.step(idx, conf, 600)
        m.update(epoch=1)
    t0, w0 = plain.step(idx, conf, 600)
    t1, w1 = variant.step(idx, conf, 600)
    p = batch_clean_prob(label_bce(conf, given), given, variant.params)
    d = decide_labels(p, conf, given, 0.975, **kwargs)
    torch.testing.assert_close(t1.float(), d.targets.float())
    torch.testing.assert_close(w1, d.weights)
    ambiguous = d.states == AMBIGUOUS
    assert ambiguous.any() and not torch.equal(w1, w0)  # it changes things
