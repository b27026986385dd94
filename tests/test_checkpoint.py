"""``register_safe_globals``: mmengine checkpoints load with weights_only."""
import os.path as osp
import pickle

import pytest
import torch
from _tiny_config import tiny_config
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner
from mmengine.utils import digit_version

from mmbmix.utils import register_safe_globals

pytestmark = pytest.mark.skipif(
    digit_version(torch.__version__) < digit_version('2.6.0'),
    reason='torch < 2.6 does not default to weights_only=True')


@pytest.fixture
def clean_safe_globals():
    """Start without any user safe global; restore the old list after."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    yield
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(saved)


class _Record(Hook):
    """Record where training starts and the final weights."""

    def before_train(self, runner):
        self.start = (runner.epoch, runner.iter)


def _run(work_dir, name, max_epochs, resume_from=None):
    cfg = tiny_config(work_dir, max_epochs=max_epochs)
    cfg.experiment_name = name  # distinct message hub / visualizer
    if resume_from is not None:
        cfg.resume, cfg.load_from = True, resume_from
    runner = Runner.from_cfg(cfg)
    record = _Record()
    runner.register_hook(record)
    runner.train()
    return runner, record


@pytest.fixture(scope='module')
def epoch1_ckpt(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('ckpt'))
    _run(work_dir, 'ckpt_epoch1', max_epochs=1)
    return osp.join(work_dir, 'epoch_1.pth')


def test_checkpoint_needs_and_gets_registration(epoch1_ckpt,
                                                clean_safe_globals):
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(epoch1_ckpt, weights_only=True)

    registered = register_safe_globals()
    ckpt = torch.load(epoch1_ckpt, weights_only=True)
    assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['iter'] == 5
    loss = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer) and len(loss.data[0]) == 5
    assert 0 < loss.mean() < 10
    # the statistics methods come back through the restricted getattr
    assert loss._statistics_methods['mean'] is HistoryBuffer.mean

    # idempotent: same list, nothing new in torch's allow-list
    n = len(torch.serialization.get_safe_globals())
    assert register_safe_globals() == registered
    assert len(torch.serialization.get_safe_globals()) == n
    assert HistoryBuffer in registered
    assert getattr not in registered  # the real getattr is never allowed


class _Shell:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f'touch {self.marker}', )


class _Getattr:
    """Pickles as ``getattr(HistoryBuffer, '__init__')``."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def test_protection_stays_on(tmp_path, clean_safe_globals):
    register_safe_globals()
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': _Shell(str(marker))}, evil)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        torch.load(evil, weights_only=True)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        torch.load(evil)  # the default is weights_only=True
    assert not marker.exists()
    # the payload is real: a full unpickle runs it
    torch.load(evil, weights_only=False)
    assert marker.exists()

    sneaky = tmp_path / 'getattr.pth'
    torch.save({'x': _Getattr()}, sneaky)
    with pytest.raises(pickle.UnpicklingError, match='__init__'):
        torch.load(sneaky, weights_only=True)


def test_resume_continues(epoch1_ckpt, tmp_path):
    register_safe_globals()
    resumed, record = _run(
        str(tmp_path / 'resumed'), 'ckpt_resumed', 2, resume_from=epoch1_ckpt)
    assert record.start == (1, 5)
    assert (resumed.epoch, resumed.iter) == (2, 10)

    straight, record = _run(str(tmp_path / 'straight'), 'ckpt_straight', 2)
    assert record.start == (0, 0)
    a = resumed.model.state_dict()
    b = straight.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
