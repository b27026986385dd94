"""Changed annotations on resume, non-finite numbers, and bad image files."""
import glob
import os
import os.path as osp
import shutil

import pytest
import torch
from conftest import make_cfg
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmbmix.engine.hooks import LabelManagerHook
from mmbmix.models.utils.label_refinery import CLEAN


def _resume_cfg(work_dir, data_root, reference, options):
    ref_dir, _ = reference
    shutil.copy(ref_dir / 'epoch_2.pth', work_dir / 'epoch_2.pth')
    cfg = make_cfg(work_dir, data_root)
    cfg.train_cfg.max_epochs = 3  # same schedule, stop after epoch 3
    cfg.resume, cfg.load_from = True, str(work_dir / 'epoch_2.pth')
    cfg.merge_from_dict(options)
    return cfg


# ------------------------------------------------- annotations changed
def test_changed_labels_on_resume_are_an_error(tmp_path, data_root, reference,
                                               monkeypatch):
    monkeypatch.delenv('MMBMIX_ALLOW_LABEL_CHANGE', raising=False)
    # another noise seed = another annotation of the same images
    cfg = _resume_cfg(tmp_path, data_root, reference,
                      {'train_dataloader.dataset.seed': 1})
    cfg.experiment_name = 'label_change_refused'
    with pytest.raises(ValueError, match='label digest') as err:
        Runner.from_cfg(cfg).train()
    assert 'MMBMIX_ALLOW_LABEL_CHANGE=1' in str(err.value)
    assert not (tmp_path / 'epoch_3.pth').exists()


def test_changed_labels_resume_when_allowed(tmp_path, data_root, reference,
                                            monkeypatch):
    monkeypatch.setenv('MMBMIX_ALLOW_LABEL_CHANGE', '1')
    cfg = _resume_cfg(tmp_path, data_root, reference,
                      {'train_dataloader.dataset.seed': 1})
    cfg.experiment_name = 'label_change_allowed'
    Runner.from_cfg(cfg).train()
    ref_dir, _ = reference
    ref = torch.load(ref_dir / 'epoch_2.pth', weights_only=False)
    new = torch.load(tmp_path / 'epoch_3.pth', weights_only=False)
    ref_state = ref['balancemix_label_manager']
    new_state = new['balancemix_label_manager']
    assert new['meta']['epoch'] == 3
    assert new_state['label_digest'] != ref_state['label_digest']
    assert new_state['label_state'].shape == ref_state['label_state'].shape


# ----------------------------------------------------------- numerics
def test_nan_loss_stops_with_a_clear_error(tmp_path, data_root):
    cfg = make_cfg(tmp_path, data_root, max_epochs=2)
    cfg.optim_wrapper.optimizer.lr = 1e10
    cfg.experiment_name = 'nan_loss'
    with pytest.raises(
            FloatingPointError,
            match=r'training loss is (nan|inf|-inf) at epoch 1'):
        Runner.from_cfg(cfg).train()
    assert not glob.glob(str(tmp_path / '*.pth'))  # nothing NaN was saved


def _hook(given, source='audit'):
    hook = LabelManagerHook(
        stats_source=source, warmup_epochs=1, shot_thresholds=(30, 5))
    hook.manager.reset(given)
    return hook


def _degenerate(case):
    g = torch.Generator().manual_seed(0)
    n, k = 200, 6
    given = torch.rand(n, k, generator=g) < 0.3
    conf = torch.rand(n, k, generator=g)
    if case == 'empty_class':
        given[:, 2] = False  # no positive training label at all
        given[:, 4] = True  # no negative one
    elif case == 'constant':
        conf = torch.full((n, k), 0.3)  # every loss of a set is equal
    else:
        conf = torch.zeros(n, k)  # saturated: BCE of positives is inf
    return given, conf


@pytest.mark.parametrize('case', ['empty_class', 'constant', 'all_zero'])
def test_degenerate_statistics_stay_finite_per_batch(case):
    """The default (per-batch) manager on the same degenerate sets."""
    given, conf = _degenerate(case)
    m = _hook(given, 'batch').manager
    idx = torch.arange(len(given))
    assert m.step(idx, conf, len(idx)) == (None, None)  # warm-up
    m.update(epoch=2)
    probs = m.state.sampling_probs
    targets, w = m.step(idx, conf, len(idx))
    assert torch.isfinite(probs).all() and (probs > 0).all()
    assert abs(probs.sum().item() - 1) < 1e-9
    assert torch.isfinite(w).all() and (w >= 0).all() and (w <= 1).all()
    if case == 'empty_class':  # the other classes are still managed
        assert (w < 1).any()
    if case == 'constant':  # nothing to split: every label clean
        assert (w == 1).all() and torch.equal(targets, given)


@pytest.mark.parametrize('case', ['empty_class', 'constant', 'all_zero'])
def test_degenerate_statistics_stay_finite(case):
    given, conf = _degenerate(case)
    n = len(given)
    hook = _hook(given)
    hook.manager.update(2, conf)
    state = hook.manager.state
    probs = state.sampling_probs
    w = hook.manager.training_targets()[1].float()
    assert torch.isfinite(probs).all() and (probs > 0).all()
    assert abs(probs.sum().item() - 1) < 1e-9
    assert torch.isfinite(w).all() and (w >= 0).all() and (w <= 1).all()
    assert torch.isfinite(state.p_clean.float()).all()
    state = state.label_state
    assert int(state.max()) <= 3
    if case == 'empty_class':  # the other classes are still managed
        assert (state != CLEAN).any()
    if case == 'constant':
        assert (state == CLEAN).all()
        assert torch.allclose(
            probs, torch.full_like(probs, 1 / n), rtol=0,
            atol=1e-12) or probs.std() > 0


# ------------------------------------------------------------ image files
def _train_images(data_root):
    found = sorted(
        glob.glob(osp.join(data_root, '*train*', 'images', '*.png')))
    assert found
    return found


class _DeleteBeforeEpoch2(Hook):

    def __init__(self, path):
        self.path = path

    def before_train_epoch(self, runner):
        if runner.epoch + 1 == 2:
            os.remove(self.path)


@pytest.fixture
def own_data(tmp_path, data_root):
    """A private copy of the mosaic, to damage."""
    root = tmp_path / 'data'
    shutil.copytree(data_root, root)
    return root


def test_truncated_png_names_the_file(tmp_path, own_data):
    img = _train_images(own_data)[5]
    data = open(img, 'rb').read()
    with open(img, 'wb') as f:
        f.write(data[:len(data) // 2])
    cfg = make_cfg(tmp_path / 'w', own_data, max_epochs=1)
    cfg.experiment_name = 'truncated_png'
    with pytest.raises(Exception, match='failed to load image: ' + img):
        Runner.from_cfg(cfg).train()


def test_image_deleted_between_epochs_names_the_file(tmp_path, own_data):
    img = _train_images(own_data)[7]
    cfg = make_cfg(tmp_path / 'w', own_data, max_epochs=2)
    cfg.experiment_name = 'deleted_png'
    runner = Runner.from_cfg(cfg)
    runner.register_hook(_DeleteBeforeEpoch2(img), priority='VERY_HIGH')
    with pytest.raises(FileNotFoundError, match=img):
        runner.train()
    assert (tmp_path / 'w' / 'epoch_1.pth').exists()  # epoch 1 was fine
