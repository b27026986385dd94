"""BalanceMix end to end on a small digits mosaic: warm-up, label states,
resume and 2-process distributed training."""
import os
import os.path as osp
import subprocess

import _state_dump_hook  # noqa: F401  (registers LabelStateDumpHook)
import pytest
import torch
from _bmix_config import ROOT, small_bmix_config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS

from mmbmix.engine.confidence import OnlineConfidence, predict
from mmbmix.engine.hooks import LabelManagerHook
from mmbmix.models.utils.label_refinery import AMBIGUOUS, CLEAN, RELABELED
from mmbmix.utils import register_safe_globals, split_dual_batch


def _state(work_dir, epoch, rank=0):
    return torch.load(osp.join(work_dir, f'state_rank{rank}_epoch{epoch}.pt'))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp('mosaic')


@pytest.fixture(scope='module')
def full_run(tmp_path_factory, data_root):
    work_dir = tmp_path_factory.mktemp('full')
    runner = Runner.from_cfg(small_bmix_config(work_dir, data_root))
    runner.train()
    return work_dir, runner


def test_warmup_is_plain_bce_then_labels_are_managed(full_run):
    work_dir, runner = full_run
    # warmup_epochs=2: epoch 1 leaves labels untouched but already feeds
    # Eq. 4 to the sampler; the state made after epoch 2 serves epoch 3.
    s1 = _state(work_dir, 1)
    assert s1['label_state'] is None and s1['weights'] is None
    probs = s1['sampler_probs']
    assert abs(probs.sum().item() - 1) < 1e-9
    assert probs.max() / probs.min() > 1.05  # not uniform any more
    s2 = _state(work_dir, 2)
    states = s2['label_state']
    assert states.shape == (192, 10)
    # All three kinds of labels exist after the warm-up on 40% flip noise.
    fracs = [(states == c).float().mean().item()
             for c in (CLEAN, RELABELED, AMBIGUOUS)]
    assert fracs[0] > 0.3 and fracs[2] > 0.0
    w = s2['weights'].float()
    assert torch.all(w[states == CLEAN] == 1)
    assert torch.all(w[states == AMBIGUOUS] < 1)
    # The hook handed the manager's probabilities to the sampler (the
    # targets ride in the samples: test_training_alignment.py).
    hook = next(
        h for h in runner.hooks if type(h).__name__ == 'LabelManagerHook')
    assert torch.allclose(
        hook.sampler.sampling_probs,
        hook.manager.state.sampling_probs,
        rtol=1e-12,
        atol=0)


def _resume_matches(full_dir, part_dir, data_root, **hook_kwargs):
    cfg = small_bmix_config(part_dir, data_root, max_epochs=4, **hook_kwargs)
    cfg.train_cfg.max_epochs = 2  # stop after epoch 2, same schedule
    Runner.from_cfg(cfg).train()
    register_safe_globals()  # what tools/train.py does before resuming
    cfg = small_bmix_config(part_dir, data_root, max_epochs=4, **hook_kwargs)
    cfg.resume = True
    cfg.load_from = str(part_dir / 'epoch_2.pth')
    Runner.from_cfg(cfg).train()
    for epoch in (2, 4):
        a, b = _state(full_dir, epoch), _state(part_dir, epoch)
        assert torch.equal(a['label_state'], b['label_state'])
        assert torch.equal(a['refined_labels'], b['refined_labels'])
        assert torch.allclose(
            a['sampler_probs'], b['sampler_probs'], rtol=0, atol=1e-12)
    return a, b


def test_resume_reproduces_label_states(full_run, tmp_path, data_root):
    _resume_matches(full_run[0], tmp_path / 'part', data_root)


def test_resume_reproduces_online_statistics(tmp_path, data_root):
    """With the online statistics a resumed run re-labels like an
    uninterrupted one."""
    full_dir = tmp_path / 'full'
    Runner.from_cfg(
        small_bmix_config(
            full_dir, data_root, max_epochs=4, stats_source='online')).train()
    _resume_matches(
        full_dir, tmp_path / 'part', data_root, stats_source='online')


@pytest.mark.timeout(300)
@pytest.mark.parametrize('stats_source',
                         ['batch', 'audit', 'online', 'sparse'])
def test_two_process_cpu_run_keeps_ranks_identical(tmp_path, data_root,
                                                   stats_source):
    # 191 instances: the audit shards are uneven (96 and 95 per rank); the
    # training shards are padded to 96 each (one instance seen twice).
    sparse = stats_source == 'sparse'
    per_batch = sparse or stats_source == 'batch'
    cfg = small_bmix_config(
        tmp_path,
        data_root,
        max_epochs=3,
        num_images=191,
        stats_source='batch' if sparse else stats_source,
        sparse=sparse)
    cfg.train_dataloader.dataset.sparse = sparse
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    env = dict(
        os.environ,
        PYTHONPATH=osp.join(ROOT, 'tests'),
        PORT='29517',
        OMP_NUM_THREADS='1',
        CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run([
        'bash',
        osp.join(ROOT, 'tools', 'dist_train.sh'),
        str(cfg_file), '2', '--work-dir',
        str(tmp_path)
    ],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for epoch in (1, 2, 3):
        r0, r1 = _state(tmp_path, epoch, 0), _state(tmp_path, epoch, 1)
        assert torch.equal(r0['sampler_probs'], r1['sampler_probs'])
        assert r0['sampler_probs'].max() > r0['sampler_probs'].min()
        if epoch >= 2 and per_batch:  # the mixtures batches are judged by
            for key in ('gmm_means', 'gmm_variances', 'gmm_weights',
                        'gmm_fitted'):
                assert torch.equal(r0[key], r1[key]), key
            for key in r0['stats']:
                assert torch.equal(r0['stats'][key], r1['stats'][key]), key
        elif epoch >= 2:
            assert torch.equal(r0['label_state'], r1['label_state'])
            assert torch.equal(r0['refined_labels'], r1['refined_labels'])


@HOOKS.register_module()
class _BeforeStepProbe(Hook):
    """Predicts each step's random half before any other hook or the step,
    and after the step (to show that the step changes the predictions)."""
    priority = 'HIGHEST'

    def before_train_epoch(self, runner):
        self.before, self.after = {}, {}

    def _probe(self, runner, data_batch, store):
        half = {k: split_dual_batch(v)[0] for k, v in data_batch.items()}
        runner.model.eval()
        idx, scores = predict(runner.model, half)
        runner.model.train()
        store.update(zip(idx.tolist(), scores))

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._probe(runner, data_batch, self.before)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self._probe(runner, data_batch, self.after)


def test_online_statistics_are_taken_before_the_step(tmp_path, data_root):
    """Each instance's online view is the model's prediction before the
    optimizer step that trains on it, one view per instance per epoch."""
    cfg = small_bmix_config(
        tmp_path,
        data_root,
        max_epochs=2,
        warmup=1,
        num_images=96,
        stats_source='online')
    cfg.optim_wrapper.optimizer.lr = 0.5  # every step moves the outputs
    cfg.custom_hooks = [
        *cfg.get('custom_hooks', []),
        dict(type='_BeforeStepProbe')
    ]
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, LabelManagerHook))
    probe = next(h for h in runner.hooks if isinstance(h, _BeforeStepProbe))
    assert isinstance(hook.source, OnlineConfidence)
    assert torch.equal(hook.source.count, torch.ones(96, dtype=torch.float64))
    before = torch.stack([probe.before[i] for i in range(96)])
    after = torch.stack([probe.after[i] for i in range(96)])
    online = hook.source.sum / hook.source.count.unsqueeze(1)
    assert torch.allclose(online, before, atol=1e-6)
    assert (online - after).abs().max() > 1e-3
    assert hook.manager.state.label_state is not None


def test_num_classes_mismatch_is_reported(tmp_path, data_root):
    cfg = small_bmix_config(tmp_path, data_root, max_epochs=1, num_images=64)
    cfg.model.head.num_classes = 11
    with pytest.raises(ValueError, match='model.head.num_classes is 11'):
        Runner.from_cfg(cfg).train()
