"""SIGKILL a training run mid-epoch or inside the label manager's
statistics pass, resume with ``--resume`` (auto), and get exactly the
uninterrupted run's labels, label state, weights and mAP."""
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, env, last_map, load, tool

STATE_KEYS = ('label_state', 'refined_labels', 'p_clean', 'sampling_probs',
              'weights')


def _run_until_paused(cfg_file, work_dir, where):
    proc = subprocess.Popen([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'),
        str(cfg_file), '--work-dir',
        str(work_dir)
    ],
                            cwd=ROOT,
                            env=env(MMBMIX_TEST_PAUSE=where),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 90
    try:
        while not (work_dir / 'paused').exists():
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline, 'the run never paused'
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


def assert_same_as_reference(ref_dir, work_dir, output, ref_output):
    a = load(ref_dir / 'state_rank0_epoch4.pt')
    b = load(work_dir / 'state_rank0_epoch4.pt')
    assert a['label_digest'] == b['label_digest']  # same noisy labels
    for key in STATE_KEYS:
        assert a[key] is not None, key
        assert torch.equal(a[key], b[key]), key
    wa = load(ref_dir / 'epoch_4.pth')['state_dict']
    wb = load(work_dir / 'epoch_4.pth')['state_dict']
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert abs(last_map(output) - last_map(ref_output)) <= 1e-6


@pytest.mark.parametrize(
    'where', ['3:2', '3:audit'], ids=['mid_epoch', 'in_statistics_pass'])
def test_sigkill_then_resume_matches_uninterrupted(tmp_path, cfg_file,
                                                   reference, where):
    ref_dir, ref_output = reference
    _run_until_paused(cfg_file, tmp_path, where)
    assert (tmp_path / 'epoch_2.pth').exists()
    assert not (tmp_path / 'epoch_3.pth').exists()
    assert (tmp_path / 'last_checkpoint').read_text().endswith('epoch_2.pth')
    proc = tool('train', cfg_file, '--work-dir', tmp_path, '--resume')
    assert proc.returncode == 0, proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert 'epoch_2.pth' in output and 'resumed epoch: 2' in output
    assert_same_as_reference(ref_dir, tmp_path, output, ref_output)
