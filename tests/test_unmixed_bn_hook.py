"""UnmixedBNHook: batch-norm statistics of the unmixed training images
(test pipeline) replace those gathered on mixed images."""
from types import SimpleNamespace

import pytest
import torch
from _bmix_config import small_bmix_config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmpretrain.registry import HOOKS, MODELS

import mmbmix  # noqa: F401  (registers the components)
from mmbmix.apis import build_train_set


def _runner(tmp_path, num_images=64):
    cfg = small_bmix_config(
        tmp_path, tmp_path / 'data', num_images=num_images, dump_state=False)
    cfg.train_dataloader.batch_size = num_images  # one batch: a plain mean
    init_default_scope('mmpretrain')
    model = MODELS.build(
        dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    return SimpleNamespace(
        cfg=cfg,
        seed=0,
        epoch=0,
        model=model,
        logger=MMLogger.get_instance('test_unmixed_bn'))


@pytest.mark.timeout(120)
def test_first_bn_gets_the_mean_and_variance_of_unmixed_images(tmp_path):
    runner = _runner(tmp_path)
    model = runner.model
    bn = model.backbone.bn1
    # statistics as a mixed-image training would leave them
    bn.running_mean.fill_(3.0)
    bn.running_var.fill_(7.0)
    hook = HOOKS.build(dict(type='UnmixedBNHook', num_samples=64))
    hook.before_train(runner)
    model.train()
    hook._perform_precise_bn(runner)
    # by hand: the first convolution's output on every training image
    # through the test pipeline, its per-channel mean and (unbiased) var
    dataset = build_train_set(runner.cfg, runner.cfg.test_pipeline)
    inputs = model.data_preprocessor(
        dict(inputs=[dataset[i]['inputs'] for i in range(len(dataset))]),
        False)['inputs']
    with torch.no_grad():
        act = model.backbone.conv1(inputs)
    flat = act.transpose(0, 1).reshape(act.size(1), -1)
    assert bn.running_mean == pytest.approx(flat.mean(1), abs=1e-4)
    assert bn.running_var == pytest.approx(flat.var(1), rel=1e-3)
    assert bn.momentum == 0.1  # restored
    assert model.training  # the training loop's mode is left as it was


def test_runs_every_interval_and_after_the_last_epoch(tmp_path, monkeypatch):
    hook = HOOKS.build(dict(type='UnmixedBNHook', interval=3))
    done = []
    monkeypatch.setattr(hook, '_perform_precise_bn',
                        lambda runner: done.append(runner.epoch))
    for epoch in range(8):  # 0-based, as in after_train_epoch
        runner = SimpleNamespace(
            epoch=epoch,
            max_epochs=8,
            train_loop=SimpleNamespace(max_epochs=8))
        hook.after_train_epoch(runner)
    assert done == [2, 5, 7]
