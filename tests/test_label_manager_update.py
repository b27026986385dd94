"""LabelManagerHook.update on synthetic model outputs: Eq. 2-4 always,
Eq. 6-9 only after the warm-up, and label selection that beats the noise."""
import torch

from mmbmix.engine.hooks import LabelManagerHook
from mmbmix.models.utils import (class_confidence, instance_score,
                                 sampling_probs)
from mmbmix.models.utils.label_refinery import CLEAN, RELABELED


def _noisy_setup(n=3000, k=8, rate=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    true = torch.rand(n, k, generator=g) < 0.3
    flip = torch.rand(n, k, generator=g) < rate
    given = true ^ flip
    # A model that has learnt the true labels, not the noise: confident
    # where it is right, with some spread.
    logits = torch.where(true, 3.0, -3.0) + torch.randn(n, k, generator=g)
    return given, true, torch.sigmoid(logits)


def _hook(given, true, **kw):
    hook = LabelManagerHook(warmup_epochs=2, shot_thresholds=(10**6, 1000),
                            **kw)
    hook.given, hook.true = given, true
    return hook


def test_warmup_updates_sampler_only():
    given, true, conf = _noisy_setup()
    hook = _hook(given, true)
    hook.update(conf, epoch=1)
    assert hook.label_state is None and hook.refined_labels is None
    P, A = class_confidence(conf, given)
    expect = sampling_probs(instance_score(given, P, A))
    assert torch.equal(hook.sampling_probs, expect)


def test_label_selection_and_relabeling_beat_the_noise():
    given, true, conf = _noisy_setup()
    hook = _hook(given, true)
    hook.update(conf, epoch=2)
    state = hook.label_state
    clean = state == CLEAN
    correct = given == true
    precision = correct[clean].float().mean().item()
    recall = (clean & correct).sum().item() / correct.sum().item()
    assert precision > 0.95 > correct.float().mean().item()
    assert recall > 0.85
    relabeled = state == RELABELED
    assert relabeled.any()
    # Re-labeled labels are mostly corrected to the truth.
    acc = (hook.refined_labels[relabeled] == true[relabeled]).float().mean()
    assert acc > 0.95
    # The weights of Eq. 10 follow from the state.
    w = hook.label_weights().float()
    assert torch.all(w[clean | relabeled] == 1)
    amb = ~(clean | relabeled)
    assert torch.allclose(w[amb], hook.p_clean[amb].float())


def test_ablation_without_clean_keeps_given_labels():
    given, true, conf = _noisy_setup()
    hook = _hook(given, true, use_clean=False)
    hook.update(conf, epoch=5)
    assert hook.label_state is None and hook.sampling_probs is not None
    hook = _hook(given, true, use_minority_sampler=False)
    hook.update(conf, epoch=5)
    assert hook.sampling_probs is None and hook.label_state is not None


def test_non_finite_outputs_are_rejected():
    given, true, conf = _noisy_setup(n=50)
    conf[3, 2] = float('nan')
    hook = _hook(given, true)
    try:
        hook.update(conf, epoch=3)
    except FloatingPointError as e:
        assert 'non-finite' in str(e)
    else:
        raise AssertionError('NaN outputs must not reach the state')
