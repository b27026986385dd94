"""Eq. 5 (MinorityMixup, the data preprocessor) and Eq. 10 (the loss)."""
import math

import pytest
import torch
from mmpretrain.structures import DataSample

from mmbmix.models import BalanceMixHead, BalanceMixLoss
from mmbmix.models.utils import BalanceMixDataPreprocessor, MinorityMixup


def test_lambda_is_max_of_beta_pair_and_at_least_half():
    torch.manual_seed(0)
    lam = MinorityMixup(alpha=4.0).sample_lambda(200_000)
    assert lam.min() >= 0.5 and lam.max() <= 1.0
    # lam = max(l', 1-l'), l' ~ Beta(4, 4): E[lam] = 0.5 + E|l' - 0.5|.
    # E|l' - 0.5| for Beta(4,4) = 2 * int_0.5^1 (x-0.5) f(x) dx = 35/256.
    assert abs(lam.mean().item() - (0.5 + 35 / 256)) < 2e-3
    # Drawn per pair: not one value for the batch.
    assert lam.std() > 0.05


def test_mean_lambda_by_hand():
    # alpha 1: lam' uniform, E[max(lam', 1 - lam')] = 3/4; alpha 4: 0.5 +
    # 35/256 (above)
    assert MinorityMixup(alpha=1.0).mean_lambda() == pytest.approx(0.75)
    assert MinorityMixup(alpha=4.0).mean_lambda() == pytest.approx(0.5 +
                                                                   35 / 256)


def test_mix_follows_eq5():
    torch.manual_seed(1)
    x = torch.randn(8, 3, 4, 4)
    y = (torch.rand(8, 5) > 0.5).float()
    mixup = MinorityMixup(alpha=4.0)
    torch.manual_seed(7)
    mixed, target, lam = mixup(x, y)
    assert mixed.shape == (4, 3, 4, 4) and target.shape == (4, 5)
    for i in range(4):
        assert torch.allclose(mixed[i],
                              lam[i] * x[i] + (1 - lam[i]) * x[4 + i])
        assert torch.allclose(target[i],
                              lam[i] * y[i] + (1 - lam[i]) * y[4 + i])


def test_mix_rejects_odd_batch():
    with pytest.raises(ValueError, match='DualBatchSampler'):
        MinorityMixup()(torch.zeros(3, 1), torch.zeros(3, 2))
    with pytest.raises(ValueError, match='alpha'):
        MinorityMixup(alpha=0)


def _batch(labels, idx):
    samples = []
    for lab, i in zip(labels, idx):
        s = DataSample().set_gt_label(lab)
        s.set_metainfo(dict(sample_idx=i))
        samples.append(s)
    inputs = torch.arange(len(idx), dtype=torch.float).view(-1, 1, 1, 1)
    return dict(
        inputs=inputs.expand(-1, 3, 2, 2).clone(), data_samples=samples)


def test_preprocessor_mixes_the_targets_and_weights_the_samples_carry():
    """One road: the refined targets (gt_score) and weights (label_weight)
    ride in the samples; the mixed sample gets the mixed targets and its
    random instance's weights; the given gt_label is not looked at."""
    pre = BalanceMixDataPreprocessor(num_classes=3, mean=None, std=None)
    assert not hasattr(pre, 'set_label_state')  # no per-instance table
    refined = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]],
                           dtype=torch.bool)
    weights = torch.tensor([[1., .5, 1.], [1., 1., .2], [0., 1., 1.],
                            [.3, .3, .3]])
    # Given labels differ from the refined ones: the refined must be used.
    data = _batch([[2], [2], [0], [0]], [0, 1, 2, 3])
    for sample, target, weight in zip(data['data_samples'], refined, weights):
        sample.set_gt_score(target.float())
        sample.set_field(weight, 'label_weight')
    torch.manual_seed(3)
    out = pre(data, training=True)
    samples = out['data_samples']
    assert len(samples) == 2 and out['inputs'].shape[0] == 2
    for j, (r, m) in enumerate([(0, 2), (1, 3)]):
        # inputs were filled with the batch position: recover lam from them
        lam = (m - out['inputs'][j, 0, 0, 0].item()) / (m - r)
        assert lam >= 0.5
        expect = lam * refined[r].float() + (1 - lam) * refined[m].float()
        assert torch.allclose(samples[j].gt_score, expect, atol=1e-6)
        assert torch.equal(samples[j].label_weight, weights[r])


def test_preprocessor_warmup_uses_given_labels_with_weight_one():
    pre = BalanceMixDataPreprocessor(num_classes=3, mean=None, std=None)
    out = pre(_batch([[2], [1], [0], [0, 1]], [0, 1, 2, 3]), training=True)
    s = out['data_samples'][0]
    assert torch.equal(s.label_weight, torch.ones(3))
    assert s.gt_score[2] >= 0.5 and s.gt_score[1] == 0
    # Not training: nothing mixed.
    out = pre(_batch([[2], [1]], [0, 1]), training=False)
    assert out['inputs'].shape[0] == 2


def test_loss_equals_hand_computation_of_eq10():
    logits = torch.tensor([[2.0, -1.0, 0.5], [-0.3, 0.8, -2.0]])
    target = torch.tensor([[0.7, 0.3, 1.0], [0.0, 1.0, 0.6]])
    weight = torch.tensor([[1.0, 0.25, 0.0], [1.0, 1.0, 0.5]])
    total = 0.0
    for i in range(2):
        for k in range(3):
            p = 1 / (1 + math.exp(-logits[i, k].item()))
            t = target[i, k].item()
            bce = -(t * math.log(p) + (1 - t) * math.log(1 - p))
            total += weight[i, k].item() * bce
    expected = total / 2
    got = BalanceMixLoss()(logits, target, weight=weight)
    assert abs(got.item() - expected) < 1e-6
    # Without weights (warm-up) it is plain BCE summed over classes.
    plain = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target, reduction='sum') / 2
    assert abs(BalanceMixLoss()(logits, target).item() - plain.item()) < 1e-6


def test_head_passes_label_weights_to_loss():
    head = BalanceMixHead(num_classes=3, in_channels=4)
    feats = (torch.randn(2, 4), )
    samples = [
        DataSample().set_gt_score(torch.tensor([1., 0., .5])) for _ in range(2)
    ]
    full = head.loss(feats, samples)['loss']
    for s in samples:
        s.set_field(torch.zeros(3), 'label_weight')
    assert head.loss(feats, samples)['loss'].item() == 0.0
    assert full.item() > 0


def test_minority_mixup_is_not_a_batch_augment():
    """It halves the batch, so it stays out of mmpretrain's BATCH_AUGMENTS
    (whose augments keep the batch size) and is built from MODELS."""
    from mmpretrain.registry import BATCH_AUGMENTS, MODELS
    assert BATCH_AUGMENTS.get('MinorityMixup') is None
    assert MODELS.get('MinorityMixup') is MinorityMixup
