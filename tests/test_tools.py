"""tools/train.py, tools/test.py and tools/dist_train.sh as subprocesses."""
import argparse
import glob
import importlib.util
import json
import os
import os.path as osp
import re
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from _tiny_config import tiny_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MAP = re.compile(r'multi-label/mAP: ([\d.]+)')


def _run(cmd, timeout=120, **env):
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env={
            **os.environ,
            **env
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return proc.stdout


def _log(work_dir):
    """Text of the newest run's log in ``work_dir``."""
    logs = sorted(glob.glob(osp.join(work_dir, '2*', '2*.log')))
    assert logs, f'no log in {work_dir}'
    with open(logs[-1]) as f:
        return f.read()


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'_tool_{name}', osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    """A 1-epoch tiny config file with ``num_workers=0``."""
    root = str(tmp_path_factory.mktemp('tools'))
    cfg = tiny_config(root, max_epochs=1, num_workers=0)
    path = osp.join(root, 'tiny.py')
    cfg.dump(path)
    return path


@pytest.fixture(scope='module')
def trained(config):
    work_dir = osp.join(osp.dirname(config), 'train')
    _run([sys.executable, 'tools/train.py', config, '--work-dir', work_dir])
    return work_dir


def test_train(trained):
    assert osp.isfile(osp.join(trained, 'epoch_1.pth'))
    log = _log(trained)
    assert 'Epoch(train) [1][5/5]' in log
    assert 0 <= float(MAP.findall(log)[-1]) <= 100
    # num_workers=0: the tool must not force persistent_workers on
    with open(osp.join(trained, 'tiny.py')) as f:
        dumped = f.read()
    assert 'persistent_workers=True' not in dumped
    assert 'persistent_workers=False' in dumped


def test_resume(trained):
    work_dir = trained + '_resume'
    shutil.copytree(trained, work_dir)
    _run([
        sys.executable, 'tools/train.py',
        osp.join(trained, 'tiny.py'), '--work-dir', work_dir, '--resume',
        '--cfg-options', 'train_cfg.max_epochs=2'
    ])
    log = _log(work_dir)
    assert 'resumed epoch: 1, iter: 5' in log
    assert 'Epoch(train) [1]' not in log
    assert 'Epoch(train) [2][5/5]' in log
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))


def test_test(trained, config):
    out = osp.join(trained, 'metrics.json')
    stdout = _run([
        sys.executable, 'tools/test.py', config,
        osp.join(trained, 'epoch_1.pth'), '--work-dir', trained + '_test',
        '--out', out, '--out-item', 'metrics'
    ])
    with open(out) as f:
        metrics = json.load(f)
    val_map = float(MAP.findall(_log(trained))[-1])
    # same checkpoint and data as the validation after epoch 1
    assert float(MAP.findall(stdout)[-1]) == pytest.approx(val_map, abs=1e-3)
    assert metrics['multi-label/mAP'] == pytest.approx(val_map, abs=1e-3)


def test_dist_train_two_processes(config):
    work_dir = osp.join(osp.dirname(config), 'dist')
    # CPU processes with gloo, also on a machine with one GPU; torchrun
    # exits 0 only when both ranks do.
    _run(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work_dir],
         timeout=120,
         PORT=_free_port(),
         CUDA_VISIBLE_DEVICES='')
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    log = _log(work_dir)
    assert 'Distributed training: True' in log
    # 40 images over 2 ranks with batch 8: 3 iterations per rank, not 5
    assert 'Epoch(train) [1][3/3]' in log
    assert 0 <= float(MAP.findall(log)[-1]) <= 100


@pytest.mark.parametrize('num_workers,no_persistent,cfg_options,expected', [
    (0, False, None, False),
    (2, False, None, True),
    (2, True, None, False),
    (2, False, {
        'train_dataloader.num_workers': 0
    }, False),
])
def test_persistent_workers_only_with_workers(tmp_path, num_workers,
                                              no_persistent, cfg_options,
                                              expected):
    train = _load_tool('train')
    cfg = tiny_config(str(tmp_path), num_workers=num_workers)
    args = argparse.Namespace(
        config='tiny.py',
        work_dir=None,
        resume=None,
        amp=False,
        no_validate=False,
        auto_scale_lr=False,
        no_pin_memory=True,
        no_persistent_workers=no_persistent,
        cfg_options=cfg_options,
        launcher='none')
    cfg = train.merge_args(cfg, args)
    assert cfg.train_dataloader.persistent_workers is expected
    assert cfg.train_dataloader.pin_memory is False
    assert cfg.train_dataloader.collate_fn == dict(type='default_collate')


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU machine')
def test_amp_on_cpu_is_refused(monkeypatch, capsys):
    train = _load_tool('train')
    monkeypatch.setattr(sys, 'argv', ['train.py', 'cfg.py', '--amp'])
    with pytest.raises(SystemExit) as exc:
        train.parse_args()
    assert exc.value.code == 2
    assert '--amp needs a CUDA GPU' in capsys.readouterr().err


def test_threads_flag_sets_torch_threads(monkeypatch):
    train = _load_tool('train')
    before = torch.get_num_threads()
    seen = []
    monkeypatch.setattr(train.torch, 'set_num_threads', seen.append)
    monkeypatch.setattr(train, 'merge_args', lambda cfg, args: 1 / 0)
    monkeypatch.setattr(train.Config, 'fromfile', lambda path: None)
    monkeypatch.setattr(sys, 'argv', ['train.py', 'cfg.py', '--threads', '1'])
    with pytest.raises(ZeroDivisionError):  # stops right after the flag
        train.main()
    assert seen == [1] and torch.get_num_threads() == before
    monkeypatch.setattr(sys, 'argv', ['train.py', 'cfg.py', '--threads', '0'])
    with pytest.raises(SystemExit, match='--threads must be >= 1'):
        train.main()
