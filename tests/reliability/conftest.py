"""Shared set-up of the reliability suite: a small BalanceMix config on the
digits mosaic (64 training images, batch 16, 4 epochs, warm-up 2) and one
uninterrupted reference run of ``tools/train.py`` that the faulty runs are
compared with."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

HERE = osp.dirname(osp.abspath(__file__))
TESTS = osp.dirname(HERE)
ROOT = osp.dirname(TESTS)
for p in (TESTS, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

import _fault_hooks  # noqa: E402,F401  (in-process runs: PauseHook, CrashHook)
import _state_dump_hook  # noqa: E402,F401  (LabelStateDumpHook)
from _bmix_config import small_bmix_config  # noqa: E402

MAX_EPOCHS = 4


def make_cfg(work_dir, data_root, max_epochs=MAX_EPOCHS, **kwargs):
    """The suite's config; fault hooks are inert without their env vars."""
    cfg = small_bmix_config(
        work_dir,
        data_root,
        max_epochs=max_epochs,
        warmup=2,
        num_images=64,
        **kwargs)
    cfg.train_dataloader.batch_size = 16
    cfg.val_dataloader.dataset.num_images = 48
    cfg.custom_hooks = [
        *cfg.get('custom_hooks', []),
        dict(type='PauseHook'),
        dict(type='CrashHook')
    ]
    cfg.custom_imports = dict(
        imports=['mmbmix', '_state_dump_hook', '_fault_hooks'],
        allow_failed_imports=False)
    return cfg


def env(**extra):
    """Environment of a tool subprocess: finds the test hooks, 1 thread."""
    e = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([TESTS, HERE, ROOT]),
        OMP_NUM_THREADS='1',
        CUDA_VISIBLE_DEVICES='')
    for k in ('MMBMIX_TEST_PAUSE', 'MMBMIX_TEST_CRASH',
              'MMBMIX_TRUST_CHECKPOINT', 'MMBMIX_ALLOW_LABEL_CHANGE'):
        e.pop(k, None)
    e.update(extra)
    return e


def tool(name, *args, timeout=120, **env_extra):
    """Run ``tools/<name>.py`` to the end; returns the CompletedProcess."""
    return subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', f'{name}.py'), *map(str, args)
    ],
                          cwd=ROOT,
                          env=env(**env_extra),
                          capture_output=True,
                          text=True,
                          timeout=timeout)


def last_map(output):
    """The last ``multi-label/mAP`` logged."""
    found = re.findall(r'multi-label/mAP: ([0-9.]+)', output)
    assert found, output[-2000:]
    return float(found[-1])


def load(path):
    return torch.load(str(path), map_location='cpu', weights_only=False)


@pytest.fixture(scope='session')
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp('mosaic')


@pytest.fixture(scope='session')
def cfg_file(tmp_path_factory, data_root):
    path = tmp_path_factory.mktemp('cfg') / 'bmix_small.py'
    make_cfg(path.parent / 'unused', data_root).dump(str(path))
    return path


@pytest.fixture(scope='session')
def reference(tmp_path_factory, cfg_file):
    """An uninterrupted 4-epoch run: (work_dir, combined output)."""
    work_dir = tmp_path_factory.mktemp('reference')
    proc = tool('train', cfg_file, '--work-dir', work_dir, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work_dir, proc.stdout + proc.stderr
