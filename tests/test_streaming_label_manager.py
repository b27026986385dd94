"""The label manager's histogram backend (no N x K state) against the exact
one and the per-epoch option, its checkpoint, and
LabelManagerHook(sparse=True) end to end."""
import io
import os.path as osp

import _state_dump_hook  # noqa: F401  (registers LabelStateDumpHook)
import numpy as np
import pytest
import torch
from _bmix_config import small_bmix_config
from mmengine.runner import Runner

import mmbmix  # noqa: F401  (registers the components)
from mmbmix.datasets.utils import as_label_csr, label_digest
from mmbmix.engine.hooks import LabelManagerHook
from mmbmix.models.utils import LabelManager
from mmbmix.utils import register_safe_globals

N, K, B = 3000, 12, 256


def _problem(seed=0, n=N, k=K):
    """Noisy labels and confidences with a clean and a noisy loss mode."""
    rng = np.random.default_rng(seed)
    true = rng.random((n, k)) < np.geomspace(0.3, 0.01, k)
    given = true ^ (rng.random((n, k)) < 0.1)
    conf = np.where(true, rng.beta(8, 2, (n, k)), rng.beta(2, 8, (n, k)))
    return (torch.from_numpy(given), torch.from_numpy(true),
            torch.from_numpy(conf).float())


def _epoch(manager, conf, epoch, perm):
    """One epoch of the sparse manager: every instance once in a random
    half of size B (no minority half), then the epoch's update."""
    out = []
    for i in range(0, len(perm), B):
        idx = perm[i:i + B]
        out.append((idx, *manager.step(idx, conf[idx], len(idx))))
    manager.update(epoch)
    return out


@pytest.mark.parametrize('statistics', ['exact', 'histogram'])
@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(gmm=dict(split='disagree')),
    dict(clean_positives=True),
    dict(score_form='mean', use_relabel=False),
    dict(use_ambiguous=False, relabel_threshold=0.8),
    dict(use_minority_sampler=False),
])
def test_batch_and_epoch_managers_decide_the_same_label_states(
        kwargs, statistics):
    """Fed the same confidences, the per-batch manager with either
    statistics backend (every loss, or histograms) trains every label with
    the target and weight of the per-epoch manager (N x K tables), and
    samples alike (Eq. 2-10), under every Table 5 switch: the two backends
    decide alike up to the binning."""
    given, true, conf = _problem()
    kw = dict(warmup_epochs=1, shot_thresholds=(400, 60), **kwargs)
    dense = LabelManager(**kw)
    dense.reset(given, true)
    dense.update(2, conf)
    # 256 bins as the dense fit; epoch 1 learns the ranges the bins span
    sparse = LabelManager(statistics=statistics, num_bins=256, **kw)
    sparse.reset(as_label_csr(given), as_label_csr(true))
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(1))
    _epoch(sparse, conf, 1, perm)
    _epoch(sparse, conf, 2, perm)
    batches = _epoch(sparse, conf, 3, perm)  # trained with epoch 2's fit
    targets, weights = dense.training_targets()
    for idx, t, w in batches:
        assert torch.equal(t, targets[idx])
        # the states (weight 1 / ambiguous / 0) alike; p_G to float16 ulps
        for level in (0.0, 1.0):
            assert torch.equal(w == level, weights[idx] == level)
        torch.testing.assert_close(w, weights[idx].float(), rtol=0, atol=1e-6)
    if kw.get('use_minority_sampler', True):
        torch.testing.assert_close(
            sparse.state.sampling_probs,
            dense.state.sampling_probs,
            rtol=1e-6,
            atol=0)
    else:
        assert sparse.state.sampling_probs is None
    # diagnostics: the epoch's labels, each once, as the dense tables
    d, s = dense.diagnostics(), sparse.diagnostics()
    assert 0.5 < d['precision'] < 1 and d['ambiguous_frac'] > 0.05
    for key, value in d.items():
        if key != 'correct_left_out_again':
            assert s[key] == pytest.approx(value, rel=1e-6, nan_ok=True), key


def test_label_digest_is_the_same_dense_and_sparse():
    given = _problem()[0]
    digest = label_digest(given)
    assert digest == label_digest(as_label_csr(given))
    assert digest == label_digest(given.numpy())
    changed = given.clone()
    changed[5, 3] = ~changed[5, 3]
    assert label_digest(changed) != digest
    assert label_digest(given[:, :-1]) != digest  # the shape counts


def _state_bytes(n, k):
    given, true, conf = _problem(n=n, k=k)
    m = LabelManager(warmup_epochs=0, statistics='histogram')
    m.reset(given, true)
    _epoch(m, conf, 1, torch.arange(n))
    state = m.state_dict()
    for value in state.values():
        if isinstance(value, torch.Tensor):
            assert value.numel() <= max(n, 4 * k)
    buf = io.BytesIO()
    torch.save(state, buf)
    return len(buf.getvalue())


def test_checkpoint_does_not_grow_with_n_times_k():
    """The sparse state is N sampling probabilities plus O(K) mixtures and
    ranges: 8x the classes adds bytes proportional to K, not N x K."""
    base = _state_bytes(2000, 10)
    wide = _state_bytes(2000, 80)
    tall = _state_bytes(8000, 10)
    assert wide - base < 80 * 200  # ~ (2 x 2 + 2 x 2 + 2 x 2 + 2 + 2 x 2) x 8
    assert 6000 * 8 <= tall - base < 6000 * 8 + 4096  # the probabilities


def test_sparse_manager_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="split='bic' needs every loss"):
        LabelManager(gmm=dict(split='bic'), statistics='histogram')
    assert LabelManager(gmm=dict(split='bic')).gmm['split'] == 'bic'
    given, true, conf = _problem(n=400)
    m = LabelManager(warmup_epochs=0, statistics='histogram')
    m.reset(given)
    m.load_state_dict(dict(label_state=torch.zeros(400, K)))
    m.check_state(per_batch=False)  # a per-epoch resume reads its table
    with pytest.raises(ValueError, match='per-epoch .N x K. label state'):
        m.check_state()  # per batch, it would run an epoch unmanaged
    m.load_state_dict({})
    bad = conf[:B].clone()
    bad[0, 0] = float('nan')
    with pytest.raises(FloatingPointError, match='non-finite'):
        m.step(torch.arange(B), bad, B)
    m.step(torch.arange(B), conf[:B], B)  # an epoch that saw 256 of 400
    with pytest.raises(RuntimeError, match='256 instances came through'):
        m.update(1)


def test_hook_arguments_are_checked():
    for kw in (dict(sparse=True), dict(ambiguous='refine'),
               dict(weight_floor=0.5)):
        with pytest.raises(ValueError, match="take stats_source='batch'"):
            LabelManagerHook(stats_source='audit', **kw)
    with pytest.raises(ValueError, match='stats_source must be one of'):
        LabelManagerHook(stats_source='epoch')
    hook = LabelManagerHook()  # Algorithm 1: per batch, exact statistics
    assert hook.stats_source == 'batch' and hook.num_views == 2
    assert type(hook.manager) is LabelManager
    assert hook.manager.statistics == 'exact'
    assert LabelManagerHook(sparse=True).manager.statistics == 'histogram'
    assert type(LabelManagerHook(stats_source='audit').manager) is \
        LabelManager  # one manager, whatever the stats_source


def test_gmm_options_update_the_defaults():
    """gmm=dict(split='disagree') changes the split rule and keeps every
    other default (min_var 5e-4, not fit_gmm_1d's 1e-8)."""
    from mmbmix.models.utils import GMM_DEFAULTS
    for statistics in ('exact', 'histogram'):
        m = LabelManager(gmm=dict(split='disagree'), statistics=statistics)
        assert m.gmm == {**GMM_DEFAULTS, 'split': 'disagree'}
        assert m.gmm['min_var'] == 5e-4
    with pytest.raises(ValueError, match="unknown option.*'min_variance'"):
        LabelManager(gmm=dict(min_variance=1e-3))


def _load(work_dir, epoch):
    return torch.load(
        osp.join(work_dir, f'state_rank0_epoch{epoch}.pt'), weights_only=False)


def _sparse_cfg(work_dir, data_root, max_epochs=4):
    cfg = small_bmix_config(
        work_dir,
        data_root,
        max_epochs=max_epochs,
        stats_source='batch',
        sparse=True)
    cfg.train_dataloader.dataset.sparse = True
    return cfg


@pytest.mark.timeout(600)
def test_sparse_hook_trains_and_resumes(tmp_path):
    """LabelManagerHook(sparse=True) on the digits mosaic: warm-up, then
    labels managed batch by batch (the log's diagnostics), a checkpoint
    without N x K state, and a resume that continues like the full run."""
    data_root = tmp_path / 'data'
    full = tmp_path / 'full'
    runner = Runner.from_cfg(_sparse_cfg(full, data_root))
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, LabelManagerHook))
    diag = hook.diagnostics
    # epoch 4 trained with the mixtures of epoch 3 (warm-up 2)
    assert 0 < diag['clean_frac'] < 1 and diag['ambiguous_frac'] > 0
    assert 0.5 < diag['precision'] <= 1 and 0 < diag['recall'] < 1
    s1, s2 = _load(full, 1), _load(full, 2)
    assert s1['gmm_fitted'] is None and s2['gmm_fitted'].shape == (20, )
    assert s2['storage'] == 'batch' and s2['sampling_probs'].shape == (192, )
    assert s2['statistics'] == 'histogram'
    ckpt = torch.load(full / 'epoch_4.pth', weights_only=False)
    state = ckpt['balancemix_label_manager']
    assert all(v.numel() <= 192
               for v in [*state.values(), *state['stats'].values()]
               if isinstance(v, torch.Tensor))
    # stop after epoch 2, resume to 4: the same mixtures and probabilities
    part = tmp_path / 'part'
    cfg = _sparse_cfg(part, data_root)
    cfg.train_cfg.max_epochs = 2
    Runner.from_cfg(cfg).train()
    register_safe_globals()
    cfg = _sparse_cfg(part, data_root)
    cfg.resume, cfg.load_from = True, str(part / 'epoch_2.pth')
    Runner.from_cfg(cfg).train()
    a, b = _load(full, 4), _load(part, 4)
    for key in ('gmm_means', 'gmm_variances', 'gmm_weights', 'gmm_fitted',
                'sampling_probs'):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-9)
    for key in ('lo', 'scale'):
        torch.testing.assert_close(
            a['stats'][key], b['stats'][key], rtol=0, atol=1e-9)


@pytest.mark.parametrize('statistics', ['exact', 'histogram'])
def test_a_restored_manager_decides_like_the_saved_one(statistics):
    """Resume at an epoch boundary: a manager restored from the saved state
    (through torch.save) decides every label of the next epoch and samples
    exactly like the one that kept running."""
    given, true, conf = _problem(n=1200)
    kw = dict(warmup_epochs=1, statistics=statistics)
    m = LabelManager(**kw)
    m.reset(given, true)
    perm = torch.randperm(1200, generator=torch.Generator().manual_seed(2))
    _epoch(m, conf, 1, perm)
    _epoch(m, conf, 2, perm)
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    r = LabelManager(**kw)
    r.load_state_dict(torch.load(buf, weights_only=False))
    r.reset(given, true)
    r.check_state()
    assert torch.equal(r.state.sampling_probs, m.state.sampling_probs)
    for (i1, t1,
         w1), (i2, t2,
               w2) in zip(_epoch(m, conf, 3, perm), _epoch(r, conf, 3, perm)):
        assert torch.equal(t1, t2) and torch.equal(w1, w2)
    assert torch.equal(r.state.sampling_probs, m.state.sampling_probs)
    # the mixtures fitted after the resumed epoch (histogram ranges too)
    for a, b in zip(r.params, m.params):
        assert torch.equal(a, b)
