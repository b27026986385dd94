"""ML-Decoder head: shapes, group FC, label-weighted loss, and learning."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from _bmix_config import small_bmix_config
from mmengine.runner import Runner
from mmpretrain.evaluation import AveragePrecision
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmbmix  # noqa: F401  (registers the components)
from mmbmix.baselines import GroupFC
from mmbmix.datasets.mosaic import load_source, render_mosaics


def _head(num_classes, num_queries=4, in_channels=8, **kwargs):
    return MODELS.build(
        dict(
            type='MLDecoderHead',
            num_classes=num_classes,
            in_channels=in_channels,
            num_queries=num_queries,
            embed_dims=16,
            num_heads=2,
            feedforward_channels=32,
            **kwargs))


@pytest.mark.parametrize('num_classes,groups', [(3, 1), (4, 1), (7, 2),
                                                (9, 3)])
def test_output_shape_below_equal_above_queries(num_classes, groups):
    head = _head(num_classes, num_queries=4)
    assert head.num_queries == min(4, num_classes)
    assert head.fc.group_size == groups
    assert head.fc.weight.shape == (head.num_queries, 16, groups)
    feat = torch.randn(2, 8, 3, 5)
    assert head((feat, )).shape == (2, num_classes)
    # tokens (B, N, C) work too, and give the same as the map
    head.eval()
    tokens = feat.flatten(2).transpose(1, 2)
    assert torch.allclose(head((tokens, )), head((feat, )))
    preds = head.predict((feat, ))
    assert preds[0].pred_score.shape == (num_classes, )


def test_queries_are_fixed():
    head = _head(5)
    assert not head.query_embed.weight.requires_grad
    head((torch.randn(2, 8, 2, 2), )).sum().backward()
    assert head.query_embed.weight.grad is None
    assert head.proj.weight.grad is not None
    assert 'query_embed.weight' in head.state_dict()  # saved with the model


def test_group_fc_matches_hand_computation():
    fc = GroupFC(num_queries=2, embed_dims=3, num_classes=3)  # g = 2
    with torch.no_grad():
        fc.weight.copy_(torch.arange(12.).view(2, 3, 2))
        fc.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    x = torch.tensor([[[1., 0., 2.], [0., 1., -1.]]])  # (1, Q=2, D=3)
    # W[0] = [[0, 1], [2, 3], [4, 5]], W[1] = [[6, 7], [8, 9], [10, 11]]
    # query 0 -> classes 0, 1: [1*0 + 2*4, 1*1 + 2*5] = [8, 11]
    # query 1 -> classes 2, (3): [8 - 10, 9 - 11] = [-2, -2], class 3 cut
    expect = torch.tensor([[8 + 0.5, 11 - 1.0, -2 + 2.0]])
    assert torch.equal(fc(x), expect)


def _samples(num, num_classes, soft=True):
    g = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(num):
        s = DataSample()
        if soft:
            s.set_gt_score(torch.rand(num_classes, generator=g))
            s.set_field(torch.rand(num_classes, generator=g), 'label_weight')
        else:
            s.set_gt_label([0, 2])
        samples.append(s)
    return samples


def test_label_weighted_loss_matches_hand_bce():
    head = _head(5, loss=dict(type='BalanceMixLoss')).eval()  # no dropout
    feats = (torch.randn(3, 8, 2, 2), )
    samples = _samples(3, 5)
    loss = head.loss(feats, samples)['loss']
    p = torch.sigmoid(head(feats))
    t = torch.stack([s.gt_score for s in samples])
    w = torch.stack([s.label_weight for s in samples])
    expect = (-w * (t * p.log() + (1 - t) * (1 - p).log())).sum() / 3
    assert torch.allclose(loss, expect, atol=1e-5)


@pytest.mark.parametrize('loss', [
    dict(type='CrossEntropyLoss', use_sigmoid=True),
    dict(type='AsymmetricLoss', gamma_pos=0.0, gamma_neg=4.0, clip=0.05)
])
def test_plain_losses(loss):
    head = _head(5, loss=loss).eval()
    feats = (torch.randn(3, 8, 2, 2), )
    samples = _samples(3, 5, soft=False)
    value = head.loss(feats, samples)['loss']
    if loss['type'] == 'CrossEntropyLoss':
        target = torch.zeros(3, 5)
        target[:, [0, 2]] = 1
        expect = F.binary_cross_entropy_with_logits(
            head(feats), target, reduction='sum') / 3
        assert torch.allclose(value, expect, atol=1e-5)
    assert torch.isfinite(value) and value > 0


def _mosaics(split, num, rng):
    """16 x 16 mosaics of 2 x 2 native 8 x 8 digits, 1-3 per image."""
    images, digit = load_source('digits', split)
    labels = np.zeros((num, 10), dtype=bool)
    for row in labels:
        row[rng.choice(10, rng.integers(1, 4), replace=False)] = True
    canvas = render_mosaics(labels, images, digit, 2, 8, rng)
    x = torch.from_numpy(canvas).float()[:, None] / 255
    return (x - 0.2) / 0.3, torch.from_numpy(labels).float()


def test_training_on_mosaic_learns():
    """A tiny conv backbone + ML-Decoder (5 queries for 10 classes: the
    group FC is used) learns the digits mosaic: test mAP well above the
    chance level (about the positive rate, 0.2). About 10 s on one core."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = _mosaics('train', 800, rng)
    x_test, y_test = _mosaics('test', 300, rng)
    backbone = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64),
        nn.ReLU())  # (B, 64, 8, 8)
    head = MODELS.build(
        dict(
            type='MLDecoderHead',
            num_classes=10,
            in_channels=64,
            num_queries=5,
            embed_dims=64,
            num_heads=4,
            feedforward_channels=128))
    assert head.fc.group_size == 2
    params = list(backbone.parameters()) + [
        p for p in head.parameters() if p.requires_grad
    ]
    opt = torch.optim.Adam(params, lr=2e-3)
    for _ in range(12):
        for idx in torch.randperm(800).split(32):
            samples = [DataSample().set_gt_score(y) for y in y_train[idx]]
            loss = head.loss((backbone(x_train[idx]), ), samples)['loss']
            opt.zero_grad()
            loss.backward()
            opt.step()
    backbone.eval()
    head.eval()
    with torch.no_grad():
        score = torch.sigmoid(head((backbone(x_test), )))
    m_ap = float(AveragePrecision.calculate(score, y_test))
    chance = float(y_test.mean()) * 100
    assert m_ap > 70 and m_ap > 3 * chance, (m_ap, chance)


def test_balancemix_training_passes_label_weights(tmp_path):
    """In a BalanceMix run (data preprocessor, dual sampler, label manager)
    the head hands the mixed targets and, after warm-up, the label weights
    to BalanceMixLoss."""
    cfg = small_bmix_config(
        tmp_path / 'work',
        tmp_path / 'data',
        max_epochs=2,
        warmup=1,
        num_images=64,
        dump_state=False)
    cfg.model.neck = None
    cfg.model.head = dict(
        type='MLDecoderHead',
        num_classes=10,
        in_channels=128,
        num_queries=100,
        embed_dims=32,
        num_heads=2,
        feedforward_channels=64,
        loss=dict(type='BalanceMixLoss'))
    cfg.default_hooks.checkpoint = None
    runner = Runner.from_cfg(cfg)
    seen = []
    loss_module = runner.model.head.loss_module
    forward = loss_module.forward

    def spy(cls_score, target, weight=None, **kwargs):
        seen.append((runner.epoch, weight
                     is not None, bool(((target > 0) & (target < 1)).any())))
        return forward(cls_score, target, weight=weight, **kwargs)

    loss_module.forward = spy
    runner.train()
    assert runner.model.head.num_queries == 10
    assert all(soft for _, _, soft in seen)  # mixed targets throughout
    assert any(w for e, w, _ in seen if e == 1)  # weights after warm-up
