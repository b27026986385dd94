"""Test helper: hand the label manager the clean labels as its selection.

In every managed epoch a label is clean where the given label is correct and
ambiguous with p_G = 0 where it is wrong (selection only: nothing is
re-labeled), so BalanceMix trains on exactly the correct labels. The
per-batch manager (the default) has each batch's decision replaced; the
per-epoch one its state after each epoch. Used by the oracle test of
defect 7.
"""
import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from mmbmix.engine.hooks import LabelManagerHook
from mmbmix.models.utils.label_manager import _rows
from mmbmix.models.utils.label_refinery import AMBIGUOUS, CLEAN


def _hook(runner):
    return next(h for h in runner.hooks if isinstance(h, LabelManagerHook))


@HOOKS.register_module()
class OracleSelectionHook(Hook):
    priority = 'BELOW_NORMAL'  # after LabelManagerHook (NORMAL)

    def before_train(self, runner):
        hook = _hook(runner)
        if not hook.per_batch:
            return
        m, step = hook.manager, hook.manager.step

        def oracle_step(idx, confidence, num_random):
            targets, _ = step(idx, confidence, num_random)
            if targets is None:  # warm-up
                return None, None
            given = _rows(m.given, idx[:len(targets)])
            true = _rows(m.true, idx[:len(targets)])
            return given, (given == true).float()

        m.step = oracle_step

    def after_train_epoch(self, runner):
        hook = _hook(runner)
        m = hook.manager
        if hook.per_batch or m.state.label_state is None:
            return
        given = torch.from_numpy(m.given.toarray())
        correct = given == torch.from_numpy(m.true.toarray())
        m.state.label_state = torch.where(
            correct, torch.tensor(CLEAN, dtype=torch.uint8),
            torch.tensor(AMBIGUOUS, dtype=torch.uint8))
        m.state.p_clean = correct.half()
        m.state.refined_labels = given
