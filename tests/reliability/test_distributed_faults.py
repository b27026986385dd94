"""One rank of a 2-process CPU run crashes: the whole job stops, non-zero,
within a bounded time instead of leaving rank 0 waiting in a collective."""
import os.path as osp
import subprocess
import time

import pytest
from conftest import ROOT, env

BOUND_S = 120


@pytest.mark.timeout(BOUND_S + 60)
def test_crash_on_one_rank_stops_the_job(tmp_path, cfg_file):
    t0 = time.monotonic()
    proc = subprocess.run([
        'bash',
        osp.join(ROOT, 'tools', 'dist_train.sh'),
        str(cfg_file), '2', '--work-dir',
        str(tmp_path), '--cfg-options', 'env_cfg.dist_cfg.timeout=60'
    ],
                          cwd=ROOT,
                          env=env(MMBMIX_TEST_CRASH='1:2', PORT='29531'),
                          capture_output=True,
                          text=True,
                          timeout=BOUND_S + 30)
    elapsed = time.monotonic() - t0
    assert proc.returncode != 0
    assert 'CrashHook: injected crash on rank 1 at epoch 2' in proc.stderr
    assert elapsed < BOUND_S, f'took {elapsed:.0f}s'
    # epoch 1 finished on both ranks before the crash
    assert (tmp_path / 'epoch_1.pth').exists()
    assert (tmp_path / 'state_rank1_epoch1.pt').exists()
    assert not (tmp_path / 'epoch_2.pth').exists()
