"""Test helper: dump the label manager's state of every rank after every
epoch, so tests can compare ranks and runs."""
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from mmbmix.engine.hooks import LabelManagerHook


@HOOKS.register_module()
class LabelStateDumpHook(Hook):
    priority = 'LOW'  # after LabelManagerHook (NORMAL)

    def after_train_epoch(self, runner):
        hook = next(h for h in runner.hooks if isinstance(h, LabelManagerHook))
        state = hook.state_dict()
        state['sampler_probs'] = hook.sampler.sampling_probs
        state['weights'] = hook.manager.training_targets()[1]
        torch.save(
            state,
            osp.join(runner.work_dir,
                     f'state_rank{runner.rank}_epoch{runner.epoch + 1}.pt'))
