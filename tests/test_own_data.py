"""A user's own multi-label data, as the own-data template takes it
(configs/own_data/): mmpretrain's MultiLabelDataset JSON, checked
annotations with one-line errors, noise on any dataset, training end to
end with mmpretrain:: bases."""
import contextlib
import json
import logging
import os

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from PIL import Image

import mmbmix  # noqa: F401  (registers the components)

TEMPLATE = 'configs/own_data/balancemix_resnet50_1xb32_own-multilabel-448px.py'
CLASSES = ['cat', 'dog', 'car', 'tree']


def _data(root, entries, missing=()):
    (root / 'images').mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, _ in enumerate(entries):
        if i not in missing:
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), np.uint8)).save(
                root / 'images' / f'{i:04d}.png')
    for split in ('train', 'val'):
        (root / f'{split}.json').write_text(
            json.dumps(
                dict(
                    metainfo=dict(classes=CLASSES),
                    data_list=[
                        dict(img_path=f'{i:04d}.png', gt_label=labels)
                        for i, labels in enumerate(entries)
                    ])))


def _cfg(root, tmp_path, **data):
    cfg = Config.fromfile(TEMPLATE)
    cfg.merge_from_dict({
        'data_root': str(root),
        'work_dir': str(tmp_path / 'work'),
        'model.backbone.depth': 18,
        'model.backbone.init_cfg': None,
        'model.head.in_channels': 512,
        'model.head.num_classes': len(CLASSES),
        'data_preprocessor.num_classes': len(CLASSES),
        'train_cfg.max_epochs': 2,
        'param_scheduler.T_max': 2,
        'default_hooks.label_manager.warmup_epochs': 1,
        'default_hooks.label_manager.shot_thresholds': (8, 4),
        'default_hooks.checkpoint.interval': 2,
        'log_level': 'WARNING',
    })
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.update(batch_size=4, num_workers=0)
        ds = loader.dataset.get('dataset', loader.dataset)
        ds.data_root = str(root)
        for t in ds.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (32, 32)
    cfg.train_dataloader.dataset.update(data)
    return cfg


def _entries(n=16):
    rng = np.random.default_rng(1)
    return [
        sorted({int(rng.integers(4)),
                int(rng.integers(4))}) for _ in range(n)
    ]


def test_template_trains_on_own_json(tmp_path):
    root = tmp_path / 'data'
    _data(root, _entries())
    runner = Runner.from_cfg(_cfg(root, tmp_path))
    runner.train()
    hook = next(
        h for h in runner.hooks if type(h).__name__ == 'LabelManagerHook')
    assert hook.manager.given.shape == (16, 4)
    assert hook.manager.managing  # mixtures fitted after the warm-up
    assert 0 < hook.diagnostics['clean_frac'] <= 1


@contextlib.contextmanager
def _captured_log():
    """The messages of the current MMLogger while the block runs."""
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def _build_train_set(cfg):
    from mmpretrain.registry import DATASETS
    return DATASETS.build(cfg.train_dataloader.dataset)


def test_bad_annotations_are_one_line_errors(tmp_path):
    root = tmp_path / 'range'
    entries = _entries(6)
    entries[2] = [1, 7]
    _data(root, entries)
    with pytest.raises(ValueError) as e:
        _build_train_set(_cfg(root, tmp_path))
    msg = str(e.value)
    assert '\n' not in msg and 'train.json' in msg
    assert "data_list[2]" in msg and "'gt_label'" in msg
    assert 'value 7' in msg and 'out of range [0, 4)' in msg

    root = tmp_path / 'missing'
    _data(root, _entries(6), missing=(4, ))
    with pytest.raises(FileNotFoundError) as e:
        _build_train_set(_cfg(root, tmp_path))
    msg = str(e.value)
    assert '\n' not in msg and 'train.json' in msg
    assert "data_list[4] field 'img_path'" in msg and '0004.png' in msg


def test_empty_label_lists_are_reported(tmp_path):
    root = tmp_path / 'empty'
    entries = _entries(6)
    entries[3] = entries[5] = []
    _data(root, entries)
    with _captured_log() as messages:
        _build_train_set(_cfg(root, tmp_path))
    found = [m for m in messages if 'no positive label' in m]
    assert len(found) == 1
    assert '2 of 6 entries' in found[0] and 'data_list[3]' in found[0]


def test_noise_is_one_line_on_own_data(tmp_path):
    root = tmp_path / 'noise'
    entries = _entries(400)
    _data(root, entries[:1])  # the labels are what counts here
    (root / 'train.json').write_text(
        json.dumps(
            dict(
                metainfo=dict(classes=CLASSES),
                data_list=[
                    dict(img_path='0000.png', gt_label=e) for e in entries
                ])))
    cfg = _cfg(root, tmp_path)
    cfg.merge_from_dict(
        dict(
            train_dataloader=dict(
                dataset=dict(noise_type='flip', noise_rate=0.2))))
    ds = _build_train_set(cfg)
    clean = ds.clean_label_matrix
    noisy = np.asarray(ds.label_matrix)
    assert clean.shape == (400, 4)
    assert abs((clean != noisy).mean() - 0.2) < 0.04  # flip: every label


def test_no_mmcv_lite_warning_on_import():
    """Every command used to print mmcv-lite's MultiScaleDeformableAttention
    warning; importing mmbmix first (as every tool does) quiets it."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, '-c', 'import mmbmix'],
                         capture_output=True,
                         text=True,
                         check=True)
    assert 'MultiScaleDeformableAttention' not in out.stderr


def test_the_audit_pass_reports_its_progress(monkeypatch):
    """stats_source='audit' runs a pass over the training set after each
    epoch; it logs about ten progress lines with an ETA, the last at the
    end, instead of nothing for minutes."""
    import types

    import torch

    import mmbmix.engine.confidence as confidence
    monkeypatch.setattr(
        confidence, 'predict', lambda model, data:
        (torch.as_tensor(data), torch.ones(len(data), 3, dtype=torch.float64)))
    loader = types.SimpleNamespace(
        dataset=list(range(40)),
        num_workers=0,
        collate_fn=lambda batch: batch,
        batch_sampler=types.SimpleNamespace(batch_size=2))
    audit = confidence.AuditConfidence(loader, num_views=2)
    with _captured_log() as messages:
        out = audit(torch.nn.Linear(1, 1), (40, 3))
    assert torch.equal(out, torch.ones(40, 3))
    lines = [m for m in messages if 'label pass' in m]
    assert len(lines) == 10 and 'label pass 40/40 batches' in lines[-1]
    assert 'eta 0 s' in lines[-1] and 'label pass 4/40' in lines[0]


def test_a_clone_folder_named_mmbmix_cannot_pass_for_the_package(tmp_path):
    """Where a folder named mmbmix (a clone, without the package inside its
    top level) comes first, 'import mmbmix' succeeds and registers nothing;
    the configs' custom_imports also import mmbmix.models, which fails
    there at once."""
    import subprocess
    import sys
    (tmp_path / 'mmbmix').mkdir()  # the clone: configs/, tools/, ... only
    cfg = Config.fromfile('configs/_base_/default_runtime.py')
    here = os.path.dirname(os.path.dirname(mmbmix.__file__))
    code = ('import sys; sys.path[:] = [p for p in sys.path if p not in '
            f'({here!r}, "")]; sys.path.insert(0, {str(tmp_path)!r}); '
            'sys.meta_path[:] = [f for f in sys.meta_path if "editable" not '
            'in repr(f)]; from mmengine.utils import '
            'import_modules_from_strings as imp; '
            f'imp({cfg.custom_imports.imports!r})')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         cwd=str(tmp_path))
    assert out.returncode != 0
    assert "No module named 'mmbmix.models'" in out.stderr


@pytest.mark.timeout(600)
def test_upstream_mmpretrain_train_py_runs_our_config(tmp_path):
    """mmpretrain's own tools/train.py (no mmbmix import of its own) trains
    a BalanceMix config through custom_imports, with num_workers=0 as a
    CPU user sets it on the command line."""
    import subprocess
    import sys

    import mmpretrain
    from _bmix_config import small_bmix_config
    upstream = os.path.join(
        os.path.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')
    if not os.path.isfile(upstream):
        pytest.skip('mmpretrain installed without its tools')
    cfg = small_bmix_config(
        tmp_path / 'work',
        tmp_path / 'data',
        max_epochs=2,
        warmup=1,
        num_images=64,
        dump_state=False,
        stats_source=None)
    from _bmix_config import DEMO
    shipped = Config.fromfile(DEMO)  # what the config says, not the helper
    for key in ('train_dataloader', 'val_dataloader'):
        cfg[key].pop('persistent_workers')
        if 'persistent_workers' in shipped[key]:
            cfg[key].persistent_workers = shipped[key].persistent_workers
    cfg.dump(str(tmp_path / 'cfg.py'))
    out = subprocess.run([
        sys.executable, upstream,
        str(tmp_path / 'cfg.py'), '--cfg-options',
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0'
    ],
                         capture_output=True,
                         text=True,
                         cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'Epoch(label) [2]' in out.stdout + out.stderr
    assert (tmp_path / 'work' / 'epoch_2.pth').is_file()
