"""T-estimator baseline: transition estimate, reweighted loss and hook."""
import io
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from _tiny_config import tiny_config
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS, MODELS

import mmbmix  # noqa: F401  (registers the components)
from mmbmix.baselines.transition_estimator import (anchor_transition,
                                                   cooccurrence_transition,
                                                   estimate_transition,
                                                   small_loss_selection)

# Four clusters of instances; each class is likely (+1) in two of them and
# unlikely (-1) in the other two, so the classes are correlated and every
# class has confident positives and negatives (anchor points).
PROTO = torch.tensor([[1, 1, 0, 0, 1, 0], [1, 0, 1, 0, 0, 1],
                      [0, 1, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1]],
                     dtype=torch.float64) * 2 - 1
RHO01 = torch.tensor([0.05, 0.1, 0.15, 0.2, 0.25, 0.3], dtype=torch.float64)
RHO10 = torch.tensor([0.4, 0.3, 0.2, 0.1, 0.05, 0.0], dtype=torch.float64)


def _synthetic(rho01, rho10, correlated=True, n=20000, seed=0):
    """Clean posterior, noisy posterior, clean and noisy labels, true T."""
    g = torch.Generator().manual_seed(seed)
    k = PROTO.size(1)
    if correlated:  # one cluster per instance
        base = PROTO[torch.randint(4, (n, ), generator=g)]
    else:  # one cluster per label: the classes are independent
        base = PROTO[torch.randint(4, (n, k), generator=g), torch.arange(k)]
    clean_post = torch.sigmoid(
        3 * base + torch.randn(n, k, generator=g, dtype=torch.float64))
    clean = torch.rand(n, k, generator=g, dtype=torch.float64) < clean_post
    u = torch.rand(n, k, generator=g, dtype=torch.float64)
    noisy = torch.where(clean, u >= rho10, u < rho01)
    noisy_post = rho01 + (1 - rho01 - rho10) * clean_post
    t = torch.stack([
        torch.stack([1 - rho01, rho01], -1),
        torch.stack([rho10, 1 - rho10], -1)
    ], 1)
    return clean_post.float(), noisy_post.float(), clean, noisy, t.float()


# ------------------------------------------------------------ estimator
def test_cooccurrence_identity_with_oracle_selection():
    """With the truly clean labels as the selection (a check of the algebra
    only; the estimator is never given them) the estimate is within 0.03."""
    _, _, clean, noisy, t = _synthetic(RHO01, RHO10)
    est, ok = cooccurrence_transition(noisy, noisy == clean)
    assert ok.all()
    assert (est - t).abs().max() < 0.03


@pytest.mark.parametrize('posterior', ['clean', 'noisy'])
def test_estimate_within_tolerance(posterior):
    """Small-loss selection from a model that predicts the clean (or the
    noisy: the same ranking) posterior. Tolerance 0.08 per entry: the
    selection keeps the most prototypical instances, which exaggerates the
    label correlations and biases the rates up by about 0.05 here."""
    clean_post, noisy_post, _, noisy, t = _synthetic(RHO01, RHO10)
    scores = clean_post if posterior == 'clean' else noisy_post
    est, fallback = estimate_transition(scores, noisy)
    assert not fallback.any()
    assert (est - t).abs().max() < 0.08
    assert torch.allclose(est.sum(-1), torch.ones(6, 2))


def test_missing_noise_type_keeps_given_positives():
    """Single-positive-like noise (rho_01 = 0, rho_10 = 0.6) with the user's
    noise_type='missing': rho_10 within 0.04, rho_01 exactly 0."""
    clean_post, _, _, noisy, t = _synthetic(
        torch.zeros(6, dtype=torch.float64),
        torch.full((6, ), 0.6, dtype=torch.float64))
    est, fallback = estimate_transition(clean_post, noisy, 'missing')
    assert not fallback.any()
    assert (est[:, 0, 1] == 0).all()
    assert (est - t).abs().max() < 0.04


def test_fallback_to_anchor_points_without_correlations():
    """Independent classes are not identifiable from co-occurrence: every
    class falls back to the anchor points of the noisy posterior (within
    0.02)."""
    _, noisy_post, _, noisy, t = _synthetic(RHO01, RHO10, correlated=False)
    est, fallback = estimate_transition(noisy_post, noisy)
    assert fallback.all()
    assert (est - t).abs().max() < 0.02
    assert torch.allclose(est, anchor_transition(noisy_post, noisy))


def test_fallback_when_too_few_selected():
    clean_post, _, _, noisy, _ = _synthetic(RHO01, RHO10, n=200)
    selected = small_loss_selection(clean_post, noisy, 0.1)
    _, ok = cooccurrence_transition(noisy, selected, min_selected=20)
    assert not ok.any()  # at most 10 selected labels of each value
    _, fallback = estimate_transition(clean_post, noisy, select_ratio=0.1)
    assert fallback.all()


def test_small_loss_selection_and_noise_cap():
    scores = torch.tensor([[0.9], [0.6], [0.2], [0.1], [0.4], [0.8]])
    labels = torch.tensor([[1], [1], [1], [0], [0], [0]])
    sel = small_loss_selection(scores, labels, 2 / 3)
    assert sel.flatten().tolist() == [True, True, False, True, True, False]
    # a flat model: anchors at 0.5 and 0.5 would mean rho_01 + rho_10 = 1;
    # the cap scales both rates to max_noise
    est, _ = estimate_transition(
        torch.full((50, 1), 0.5), torch.arange(50)[:, None] % 2, max_noise=0.8)
    assert torch.allclose(est[0], torch.tensor([[0.6, 0.4], [0.4, 0.6]]))


# ----------------------------------------------------------------- loss
def test_reweighted_loss_matches_hand_computation():
    logits = torch.tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)
    target = torch.tensor([[1.0, 0.0], [0.0, 0.3]])  # 0.3: a Mixup target
    rho01, rho10 = (0.1, 0.3), (0.2, 0.0)
    t = torch.tensor([[[1 - rho01[k], rho01[k]], [rho10[k], 1 - rho10[k]]]
                      for k in range(2)])
    loss_fn = MODELS.build(dict(type='TransitionReweightedLoss'))
    loss_fn.set_transition(t)
    loss = loss_fn(logits, target, avg_factor=2)

    expect, grad = 0.0, torch.zeros(2, 2)
    for b in range(2):
        for k in range(2):
            x, y = float(logits[b, k].detach()), float(target[b, k])
            p = 1 / (1 + math.exp(-x))
            w1 = p / ((1 - p) * rho01[k] + p * (1 - rho10[k]))
            w0 = (1 - p) / ((1 - p) * (1 - rho01[k]) + p * rho10[k])
            expect += -y * w1 * math.log(p) - (1 - y) * w0 * math.log(1 - p)
            # the weights are constants of the gradient
            grad[b, k] = (-y * w1 * (1 - p) + (1 - y) * w0 * p) / 2
    assert loss.item() == pytest.approx(expect / 2, rel=1e-5)
    loss.backward()
    assert torch.allclose(logits.grad, grad, atol=1e-6)


def test_reweighted_loss_is_bce_without_noise():
    logits, target = torch.randn(4, 3), (torch.rand(4, 3) > 0.5).float()
    bce = MODELS.build(dict(type='CrossEntropyLoss', use_sigmoid=True))(
        logits, target, avg_factor=4)
    loss_fn = MODELS.build(dict(type='TransitionReweightedLoss'))
    assert torch.allclose(loss_fn(logits, target, avg_factor=4), bce)
    loss_fn.set_transition(torch.eye(2).repeat(3, 1, 1))
    assert torch.allclose(loss_fn(logits, target, avg_factor=4), bce)
    weight = torch.rand(4, 3)
    assert torch.allclose(
        loss_fn(logits, target, weight=weight),
        (F.binary_cross_entropy_with_logits(logits, target, reduction='none') *
         weight).sum() / 4)
    with pytest.raises(ValueError, match='shape'):
        loss_fn.set_transition(torch.eye(2))


# ----------------------------------------------------------------- hook
def test_hook_state_survives_checkpoint_round_trip():
    hook = HOOKS.build(dict(type='TEstimatorHook', warmup_epochs=2))
    hook.transition = torch.rand(5, 2, 2)
    hook.fallback = torch.tensor([True, False, False, True, False])
    hook.epoch = 2
    ckpt = {}
    hook.before_save_checkpoint(None, ckpt)
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)

    other = HOOKS.build(dict(type='TEstimatorHook', warmup_epochs=2))
    other.loss = MODELS.build(dict(type='TransitionReweightedLoss'))
    other.after_load_checkpoint(None, ckpt)
    assert torch.equal(other.transition, hook.transition)
    assert torch.equal(other.fallback, hook.fallback)
    assert other.epoch == 2
    assert torch.equal(other.loss.transition, hook.transition)
    other.after_load_checkpoint(None, {})  # an old checkpoint: unchanged
    assert other.epoch == 2


def test_hook_bad_arguments():
    with pytest.raises(ValueError, match='warmup_epochs'):
        HOOKS.build(dict(type='TEstimatorHook', warmup_epochs=0))
    with pytest.raises(ValueError, match='noise_type'):
        HOOKS.build(dict(type='TEstimatorHook', noise_type='flip'))


def _tiny_run(work_dir, name, max_epochs, resume_from=None):
    cfg = tiny_config(work_dir, max_epochs=max_epochs)
    cfg.experiment_name = name
    cfg.model.head.loss = dict(type='TransitionReweightedLoss')
    cfg.custom_hooks = [
        dict(type='TEstimatorHook', warmup_epochs=1, min_selected=5)
    ]
    if resume_from is not None:
        cfg.resume, cfg.load_from = True, resume_from
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = next(
        h for h in runner.hooks if type(h).__name__ == 'TEstimatorHook')
    return runner, hook


def test_hook_estimates_after_warmup_and_resumes(tmp_path):
    work_dir = str(tmp_path)
    runner, hook = _tiny_run(work_dir, 't_est_run', max_epochs=2)
    assert hook.epoch == 1 and hook.transition.shape == (4, 2, 2)
    assert runner.model.head.loss_module.transition is hook.transition
    ckpt = torch.load(osp.join(work_dir, 'epoch_1.pth'), weights_only=True)
    assert torch.equal(ckpt['t_estimator']['transition'], hook.transition)

    _, resumed = _tiny_run(
        work_dir,
        't_est_resume',
        max_epochs=2,
        resume_from=osp.join(work_dir, 'epoch_1.pth'))
    assert resumed.epoch == 1  # restored, not estimated again
    assert torch.equal(resumed.transition, hook.transition)
