"""Checkpoints cut short while being written, and untrusted checkpoints."""
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from conftest import last_map, load, tool
from mmengine.logging import HistoryBuffer

from mmbmix.utils.checkpoint import (CheckpointError, checkpoint_guard,
                                     find_resumable_checkpoint,
                                     history_buffer_getattr)


def _truncate(src, dst, frac=0.5):
    data = src.read_bytes()
    dst.write_bytes(data[:int(len(data) * frac)])


@pytest.fixture
def killed_while_saving(tmp_path, reference):
    """A work dir as a kill during ``torch.save(epoch_3.pth)`` leaves it."""
    ref_dir, _ = reference
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        shutil.copy(ref_dir / name, tmp_path / name)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    _truncate(ref_dir / 'epoch_3.pth', tmp_path / 'epoch_3.pth')
    return tmp_path


def test_last_checkpoint_is_written_after_the_checkpoint(reference):
    # mmengine's CheckpointHook writes `last_checkpoint` once the save is
    # done, so a kill inside torch.save leaves it naming the previous file.
    import inspect

    from mmengine.hooks import CheckpointHook
    src = inspect.getsource(CheckpointHook._save_checkpoint_with_step)
    assert src.index('save_checkpoint(') < src.index("'last_checkpoint'")
    ref_dir, _ = reference
    assert (ref_dir / 'last_checkpoint').read_text() == str(ref_dir /
                                                            'epoch_4.pth')


def test_incomplete_checkpoints_are_never_picked(killed_while_saving):
    d = killed_while_saving
    assert find_resumable_checkpoint(str(d)) == str(d / 'epoch_2.pth')
    # killed while writing last_checkpoint itself, or it names a bad file:
    # the newest complete checkpoint, not the cut-short epoch_3.pth
    for named in ('', str(d / 'epoch_3.pth'), '/moved/away/epoch_2.pth'):
        (d / 'last_checkpoint').write_text(named)
        os.utime(d / 'epoch_3.pth')  # the newest file
        assert find_resumable_checkpoint(str(d)) == str(d / 'epoch_2.pth')
    (d / 'last_checkpoint').unlink()
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        (d / name).unlink()
    assert find_resumable_checkpoint(str(d)) is None


def test_auto_resume_skips_cut_short_checkpoint(killed_while_saving, cfg_file,
                                                reference):
    d = killed_while_saving
    (d / 'last_checkpoint').write_text('')  # plain mmengine would crash
    proc = tool('train', cfg_file, '--work-dir', d, '--resume')
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert 'resumed epoch: 2' in out
    ref_dir, ref_out = reference
    assert abs(last_map(out) - last_map(ref_out)) <= 1e-6
    wa = load(ref_dir / 'epoch_4.pth')['state_dict']
    wb = load(d / 'epoch_4.pth')['state_dict']
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize('name', ['train', 'test'])
def test_cut_short_checkpoint_is_a_one_line_error(killed_while_saving,
                                                  cfg_file, name):
    bad = killed_while_saving / 'epoch_3.pth'
    args = ['--resume', bad] if name == 'train' else [bad]
    proc = tool(name, cfg_file, *args, '--work-dir', killed_while_saving)
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert str(bad) in last and 'incomplete' in last, proc.stderr[-2000:]
    with pytest.raises(CheckpointError, match='is empty'):
        bad.write_bytes(b'')
        with checkpoint_guard(str(bad)):
            pass


# ----------------------------------------------------------- untrusted files
class _WritesMarker:
    """Unpickling it runs ``touch <marker>``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class _Getattr:
    """Unpickling it calls ``getattr(obj, name)`` (``builtins.getattr``)."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return getattr, (self.obj, self.name)


@pytest.fixture
def crafted(tmp_path, reference):
    """A real epoch-2 checkpoint plus an entry that writes a marker file."""
    ref_dir, _ = reference
    ckpt = load(ref_dir / 'epoch_2.pth')
    marker = tmp_path / 'pwned'
    ckpt['meta']['note'] = _WritesMarker(marker)
    path = tmp_path / 'crafted.pth'
    torch.save(ckpt, path)
    return path, marker


@pytest.mark.parametrize('name', ['train', 'test'])
def test_untrusted_checkpoint_is_refused_unless_trusted(
        crafted, cfg_file, tmp_path, name):
    path, marker = crafted
    args = ['--resume', path] if name == 'train' else [path]
    args += ['--work-dir', tmp_path / 'w']
    # resuming at the end of max_epochs=2 loads the checkpoint and stops
    opts = ['--cfg-options', 'train_cfg.max_epochs=2'] \
        if name == 'train' else []
    proc = tool(name, cfg_file, *args, *opts)
    assert proc.returncode != 0
    assert not marker.exists()
    assert 'Traceback' not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert str(path) in last and 'refused' in last and 'posix.system' in last
    assert '--trust-checkpoint' in last and 'MMBMIX_TRUST_CHECKPOINT' in last
    # the user vouches for the file: it loads (and runs its code)
    if name == 'train':
        proc = tool(name, cfg_file, *args, *opts, MMBMIX_TRUST_CHECKPOINT='1')
    else:
        proc = tool(name, cfg_file, *args, '--trust-checkpoint')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert marker.exists()


@pytest.mark.parametrize('obj,name', [
    (HistoryBuffer, '__init__'),
    (HistoryBuffer, '_statistics_methods'),
    (np.ndarray, 'tofile'),
    (getattr, '__self__'),
])
def test_restricted_getattr_reaches_only_statistics(tmp_path, obj, name):
    path = tmp_path / 'getattr.pth'
    torch.save({'meta': _Getattr(obj, name)}, path)
    with pytest.raises(CheckpointError, match='refused.*getattr'):
        with checkpoint_guard(str(path)):
            torch.load(path)
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_getattr(obj, name)
    # the allowed four still resolve
    torch.save({'m': _Getattr(HistoryBuffer, 'mean')}, path)
    assert torch.load(path)['m'] is HistoryBuffer.mean
