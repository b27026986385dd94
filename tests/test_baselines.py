"""Comparison baselines: BCE + Mixup, ASL, Co-teaching, LL-R and LL-Ct."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmbmix  # noqa: F401  (registers the components)
from mmbmix.baselines import co_teaching_select, large_loss_mask

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs')


def _path(name):
    """configs/<method>/<name>."""
    method = next(
        m for m in ('t_estimator', 'coteaching', 'mixup', 'bce', 'asl', 'llr',
                    'llct') if name.startswith(m))
    return osp.join(CONFIGS, method, name)


METHODS = ('mixup', 'asl', 'coteaching', 'llr', 'llct')
NOISE = ('', '_mislabel20', '_mislabel40', '_flip20', '_flip40',
         '_single-positive')


@pytest.fixture
def set_epoch():
    """Set the runner-style ``'epoch'`` info; removed after the test."""
    hub = MessageHub.get_current_instance()
    yield lambda epoch: hub.update_info('epoch', epoch)
    hub.pop_info('epoch', None)


# ----------------------------------------------------------------- LL-R/Ct
def _ll_inputs():
    # 2 x 4 logits; target 1 at (0, 0) and (1, 2); 6 negatives whose BCE
    # (softplus of the logit) ranks: (1, 3) > (0, 2) > (1, 0) > (0, 3) > ...
    logits = torch.tensor([[-3.0, -1.0, 2.0, 0.5], [1.0, -2.0, 5.0, 3.0]])
    target = torch.tensor([[1.0, 0, 0, 0], [0, 0, 1, 0]])
    return logits, target


def test_large_loss_mask_picks_top_fraction_of_negatives():
    logits, target = _ll_inputs()
    loss = F.softplus(logits)  # BCE of a negative label
    mask = large_loss_mask(loss, target == 0, 0.5)  # 3 of 6 negatives
    expect = torch.zeros(2, 4, dtype=torch.bool)
    expect[1, 3] = expect[0, 2] = expect[1, 0] = True
    assert torch.equal(mask, expect)
    # a positive with a larger loss than every negative is never chosen
    mask = large_loss_mask(loss + 10 * target, target == 0, 1 / 3)
    assert mask.sum() == 2 and mask[1, 3] and mask[0, 2]
    assert not large_loss_mask(loss, target == 0, 0.0).any()


def test_llr_rejects_and_llct_corrects_top_negatives(set_epoch):
    logits, target = _ll_inputs()
    llr = MODELS.build(
        dict(
            type='LargeLossRejectionLoss',
            mode='reject',
            delta_rel=0.25,
            start_epoch=1))
    llct = MODELS.build(
        dict(
            type='LargeLossRejectionLoss',
            mode='correct_temporary',
            delta_rel=0.25))
    # epoch 2 (0-based): delta = 2 * 0.25 = 0.5 -> 3 of 6 negatives
    chosen = torch.zeros(2, 4, dtype=torch.bool)
    chosen[1, 3] = chosen[0, 2] = chosen[1, 0] = True
    t_r, w_r = llr.modify(logits, target, epoch=2)
    assert torch.equal(t_r, target)
    assert torch.equal(w_r == 0, chosen)
    t_c, w_c = llct.modify(logits, target, epoch=2)
    assert torch.all(w_c == 1)
    assert torch.equal(t_c, torch.where(chosen, 1.0, target))
    # forward: sum of the per-label losses / avg_factor
    set_epoch(2)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction='none')
    expect_r = bce.masked_fill(chosen, 0).sum() / 2
    expect_c = torch.where(chosen, F.softplus(-logits), bce).sum() / 2
    assert torch.allclose(llr(logits, target, avg_factor=2), expect_r)
    assert torch.allclose(llct(logits, target, avg_factor=2), expect_c)
    assert llr.num_modified == 3 and llct.num_modified == 3
    # epoch 0 (Kim et al.'s t = 1): plain BCE
    set_epoch(0)
    assert torch.allclose(llr(logits, target, avg_factor=2), bce.sum() / 2)
    assert llr.num_modified == 0


def test_ll_delta_grows_with_epoch(set_epoch):
    loss = MODELS.build(dict(type='LargeLossRejectionLoss', delta_rel=0.002))
    deltas = [loss.delta(e) for e in range(5)]
    assert deltas == pytest.approx([0.0, 0.002, 0.004, 0.006, 0.008])
    capped = MODELS.build(
        dict(
            type='LargeLossRejectionLoss',
            delta_rel=0.1,
            max_delta=0.25,
            start_epoch=0))
    assert [capped.delta(e)
            for e in (0, 1, 2, 5)] == pytest.approx([0.1, 0.2, 0.25, 0.25])
    set_epoch(3)
    assert loss.delta() == pytest.approx(0.006)
    with pytest.raises(ValueError, match='mode'):
        MODELS.build(dict(type='LargeLossRejectionLoss', mode='permanent'))


# ------------------------------------------------------------- Co-teaching
def _coteaching(**kwargs):
    return MODELS.build(
        dict(
            type='CoTeachingClassifier',
            backbone=dict(
                type='ResNet_CIFAR',
                depth=18,
                stem_channels=8,
                base_channels=8,
                num_stages=1,
                strides=(1, ),
                dilations=(1, ),
                out_indices=(0, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='MultiLabelLinearClsHead', num_classes=3, in_channels=32),
            **kwargs))


def test_coteaching_forget_rate_schedule(set_epoch):
    model = _coteaching(forget_rate=0.4, num_gradual=4)
    rates = [model.forget_rate_at(e) for e in range(7)]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.4, 0.4])
    assert [model.num_remember(10, e) for e in (0, 2, 6)] == [10, 8, 6]
    set_epoch(2)
    assert model.forget_rate_at() == pytest.approx(0.2)
    assert _coteaching(forget_rate=0.3, num_gradual=0).forget_rate_at(0) \
        == pytest.approx(0.3)
    with pytest.raises(ValueError, match='forget_rate'):
        _coteaching(forget_rate=1.0)


def test_coteaching_select_is_crossed():
    loss1 = torch.tensor([0.1, 5.0, 0.3, 2.0, 0.2])
    loss2 = torch.tensor([4.0, 0.1, 3.0, 0.2, 0.3])
    idx1, idx2 = co_teaching_select(loss1, loss2, 3)
    assert sorted(idx1.tolist()) == [1, 3, 4]  # smallest loss2 -> net 1
    assert sorted(idx2.tolist()) == [0, 2, 4]  # smallest loss1 -> net 2


def test_coteaching_updates_each_net_on_peer_small_loss_instances():
    torch.manual_seed(0)
    model = _coteaching(forget_rate=0.5, num_gradual=0)
    model.init_weights()
    p1 = torch.cat([p.flatten() for p in model.backbone.parameters()])
    p2 = torch.cat([p.flatten() for p in model.backbone2.parameters()])
    assert not torch.allclose(p1, p2)  # built twice, initialised apart
    target = torch.tensor([[1., 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    # net 1 fits instances 0 and 1, net 2 fits instances 2 and 3
    good, bad = 6.0 * (2 * target - 1), -6.0 * (2 * target - 1)
    logits1 = torch.cat([good[:2], bad[2:]]).requires_grad_()
    logits2 = torch.cat([bad[:2], good[2:]]).requires_grad_()
    model.forward_pair = lambda inputs: (logits1, logits2)
    samples = [
        DataSample().set_gt_label(torch.nonzero(t).flatten()) for t in target
    ]
    losses = model.loss(torch.zeros(4, 3, 8, 8), samples)
    assert set(losses) == {'loss_net1', 'loss_net2', 'remember_rate'}
    assert losses['remember_rate'].item() == 0.5
    (losses['loss_net1'] + losses['loss_net2']).backward()
    # net 1 learns from its peer's small-loss instances (2, 3), net 2 from
    # net 1's (0, 1): the high-loss instances of each net are its update
    used1 = logits1.grad.abs().sum(1) > 0
    used2 = logits2.grad.abs().sum(1) > 0
    assert used1.tolist() == [False, False, True, True]
    assert used2.tolist() == [True, True, False, False]
    bce1 = F.binary_cross_entropy_with_logits(
        logits1, target, reduction='none').sum(1)
    assert torch.isclose(losses['loss_net1'], bce1[2:].mean())


def test_coteaching_predict_mean_of_sigmoids():
    model = _coteaching(predict_with='mean')
    logits1 = torch.tensor([[2.0, -1.0, 0.0]])
    logits2 = torch.tensor([[0.0, 1.0, -4.0]])
    model.forward_pair = lambda inputs: (logits1, logits2)
    pred = model.predict(torch.zeros(1, 3, 8, 8))[0].pred_score
    expect = (logits1.sigmoid() + logits2.sigmoid())[0] / 2
    assert torch.allclose(pred, expect, atol=1e-6)


# ----------------------------------------------------------------- configs
def test_configs_exist_for_every_method_and_noise():
    for method in METHODS:
        for data in ('digits', 'fashion-mnist'):
            for noise in NOISE:
                path = _path(f'{method}_resnet-small_1xb32_mosaic-'
                             f'{data}-32px{noise}.py')
                assert osp.isfile(path), path
        assert osp.isfile(_path(f'{method}_resnet50_1xb32_coco2014-448px.py'))
    cfg = Config.fromfile(
        _path('coteaching_resnet-small_1xb32_mosaic-digits-32px_flip40.py'))
    assert cfg.model.type == 'CoTeachingClassifier'
    assert cfg.model.forget_rate == 0.4
    assert cfg.model.train_cfg.augments == dict(type='Mixup', alpha=1.0)
    assert cfg.train_dataloader.dataset.noise_type == 'flip'
    assert cfg.train_dataloader.dataset.dataset.type == 'MosaicMultiLabel'
    cfg = Config.fromfile(_path('llct_resnet50_1xb32_coco2014-448px.py'))
    assert cfg.model.head.loss == dict(
        type='LargeLossRejectionLoss',
        mode='correct_temporary',
        delta_rel=0.0004,  # Appendix D: 0.04% per epoch on COCO
        start_epoch=1)
    cfg = Config.fromfile(_path('asl_resnet50_1xb32_coco2014-448px.py'))
    assert cfg.model.head.loss.type == 'AsymmetricLoss'
    assert cfg.model.head.loss.gamma_pos == 0 and cfg.model.head.loss.clip \
        == 0.05


# -------------------------------------------------------------- training
@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp('mosaic')


@pytest.fixture(autouse=True)
def _no_yapf(monkeypatch):
    # The runner formats its config with yapf five times (log, dump, info):
    # over half the time of these small runs, and not what is tested here.
    monkeypatch.setattr('mmengine.config.config.FormatCode',
                        lambda text, **kwargs: (text, False))


def _small(name, work_dir, data_root, **model):
    cfg = Config.fromfile(_path(name))
    cfg.work_dir = str(work_dir)
    train = cfg.train_dataloader.dataset
    inner = train.dataset if train.type == 'LabelNoiseDataset' else train
    inner.update(data_root=str(data_root), num_images=128)
    cfg.val_dataloader.dataset.update(data_root=str(data_root), num_images=32)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.update(num_workers=0, persistent_workers=False, batch_size=32)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    cfg.param_scheduler.update(T_max=1, end=1)
    cfg.val_evaluator = dict(
        type='ShotGroupAveragePrecision', shot_thresholds=(40, 10))
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    # a slimmer network than the config's: the run checks the wiring
    cfg.model.backbone.update(stem_channels=8, base_channels=8)
    cfg.model.head.in_channels = 64
    cfg.model.update(model)
    return cfg


def _train(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    losses = {
        k: v.current()
        for k, v in hub.log_scalars.items()
        if k.startswith('train/') and 'loss' in k
    }
    assert losses and all(math.isfinite(v) for v in losses.values()), losses
    assert 0 <= hub.get_scalar('val/multi-label/mAP').current() <= 100
    return runner, losses


def test_mixup_makes_soft_multilabel_targets_and_trains(tmp_path, data_root):
    cfg = _small('mixup_resnet-small_1xb32_mosaic-digits-32px.py', tmp_path,
                 data_root)
    runner, _ = _train(cfg)
    pre = runner.model.data_preprocessor
    assert pre.to_onehot and pre.batch_augments is not None
    batch = pre(next(iter(runner.train_dataloader)), training=True)
    scores = torch.stack([s.gt_score for s in batch['data_samples']])
    assert scores.shape == (32, 10)
    assert ((scores > 0) & (scores < 1)).any()  # mixed, not one-hot


def test_asl_trains(tmp_path, data_root):
    cfg = _small('asl_resnet-small_1xb32_mosaic-digits-32px_mislabel40.py',
                 tmp_path, data_root)
    runner, _ = _train(cfg)
    assert type(runner.model.head.loss_module).__name__ == 'AsymmetricLoss'


def test_coteaching_trains(tmp_path, data_root):
    cfg = _small(
        'coteaching_resnet-small_1xb32_mosaic-digits-32px_flip40.py',
        tmp_path,
        data_root,
        num_gradual=0)  # forget 40% from the start
    runner, losses = _train(cfg)
    assert {'train/loss_net1', 'train/loss_net2'} <= set(losses)
    rate = runner.message_hub.get_scalar('train/remember_rate').current()
    assert rate == pytest.approx(0.6, abs=0.02)


@pytest.mark.parametrize('method', ['llr', 'llct'])
def test_large_loss_trains(tmp_path, data_root, method):
    cfg = _small(
        f'{method}_resnet-small_1xb32_mosaic-digits-32px_single-positive.py',
        tmp_path, data_root)
    cfg.model.head.loss.update(start_epoch=0, delta_rel=0.1)
    runner, _ = _train(cfg)
    loss = runner.model.head.loss_module
    assert loss.mode == ('reject' if method == 'llr' else 'correct_temporary')
    assert loss.num_modified > 0  # 10% of the last batch's negatives


def test_gmm_selection_matches_sklearn_and_keeps_all_when_unsplit():
    """Co-teaching as the BalanceMix paper ran it (Appendix D): instances a
    two-component GMM on the peer's losses calls clean (> 0.5)."""
    from sklearn.mixture import GaussianMixture

    from mmbmix.baselines import gmm_select
    g = torch.Generator().manual_seed(0)
    loss = torch.cat([
        0.3 + 0.1 * torch.randn(24, generator=g),
        3 + 0.5 * torch.randn(8, generator=g)
    ]).abs()
    gm = GaussianMixture(2, random_state=0).fit(loss.numpy()[:, None])
    p = gm.predict_proba(loss.numpy()[:, None])[:, gm.means_.argmin()]
    assert sorted(gmm_select(loss).tolist()) == list(np.flatnonzero(p > .5))
    assert gmm_select(loss).numel() == 24
    assert gmm_select(torch.ones(32)).numel() == 32  # nothing to split
    assert gmm_select(loss[:4]).numel() == 4  # too few to fit


def test_coteaching_gmm_trains_each_network_on_its_peers_clean_set():
    model = _coteaching(selection='gmm')
    with pytest.raises(ValueError, match='selection must be one of'):
        _coteaching(selection='median')
    from mmbmix.baselines import gmm_select
    g = torch.Generator().manual_seed(1)
    target = (torch.rand(32, 3, generator=g) < 0.4).float()
    sign = 2 * target - 1
    # network 1 fits instances 0-23, network 2 instances 8-31
    conf1 = torch.where(torch.arange(32) < 24, 4.0, -2.0)[:, None]
    conf2 = torch.where(torch.arange(32) >= 8, 4.0, -2.0)[:, None]
    logits1 = sign * conf1 + 0.3 * torch.randn(32, 3, generator=g)
    logits2 = sign * conf2 + 0.3 * torch.randn(32, 3, generator=g)
    model.forward_pair = lambda inputs: (logits1, logits2)
    samples = [
        DataSample().set_gt_label(t.nonzero().flatten().tolist())
        for t in target
    ]
    out = model.loss(torch.zeros(32, 3, 8, 8), samples)
    l1 = F.binary_cross_entropy_with_logits(
        logits1, target, reduction='none').sum(1)
    l2 = F.binary_cross_entropy_with_logits(
        logits2, target, reduction='none').sum(1)
    assert sorted(gmm_select(l2).tolist()) == list(range(8, 32))
    torch.testing.assert_close(out['loss_net1'], l1[gmm_select(l2)].mean())
    torch.testing.assert_close(out['loss_net2'], l2[gmm_select(l1)].mean())
