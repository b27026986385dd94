"""Test-only hooks that inject faults into a training run.

They do nothing unless their environment variable is set, so a faulty run
and its uninterrupted reference use the very same config:

* ``MMBMIX_TEST_PAUSE=E:I`` - after training iteration I (1-based) of epoch
  E, touch ``<work_dir>/paused`` and sleep, for the test to SIGKILL the run.
  ``E:audit`` pauses inside the label manager's statistics pass of epoch E
  (at its second forward batch), before the epoch's state is computed.
* ``MMBMIX_TEST_CRASH=R:E`` - rank R raises at the start of epoch E.
"""
import os
import os.path as osp
import time

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

PAUSE_ENV = 'MMBMIX_TEST_PAUSE'
CRASH_ENV = 'MMBMIX_TEST_CRASH'


def _pause(runner):
    with open(osp.join(runner.work_dir, 'paused'), 'w') as f:
        f.write(f'{os.getpid()}\n')
    time.sleep(600)


@HOOKS.register_module()
class PauseHook(Hook):
    """Stop a run at a known point (``MMBMIX_TEST_PAUSE``) to be killed."""

    priority = 'HIGH'  # after_train_epoch: before LabelManagerHook (NORMAL)

    def __init__(self):
        spec = os.environ.get(PAUSE_ENV, '')
        self.epoch, _, self.where = spec.partition(':')

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if self.where.isdigit() and runner.epoch + 1 == int(self.epoch) \
                and batch_idx + 1 == int(self.where):
            _pause(runner)

    def after_train_epoch(self, runner):
        if self.where != 'audit' or runner.epoch + 1 != int(self.epoch):
            return
        model = runner.model
        model = getattr(model, 'module', model)
        # every forward of the audit pass extracts features (through
        # val_step or confidence.predict's short cut)
        extract_feat = model.extract_feat
        calls = []

        def pausing_extract_feat(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                _pause(runner)
            return extract_feat(*args, **kwargs)

        model.extract_feat = pausing_extract_feat  # the audit pass runs next


@HOOKS.register_module()
class CrashHook(Hook):
    """Raise on one rank at the start of one epoch (``MMBMIX_TEST_CRASH``)."""

    def __init__(self):
        spec = os.environ.get(CRASH_ENV, '')
        self.rank, _, self.epoch = spec.partition(':')

    def before_train_epoch(self, runner):
        if self.rank and runner.rank == int(self.rank) \
                and runner.epoch + 1 == int(self.epoch):
            raise RuntimeError(f'CrashHook: injected crash on rank '
                               f'{runner.rank} at epoch {runner.epoch + 1}')
