"""Test helper: hand the label manager the clean labels as its selection.

After every managed epoch the state becomes the oracle's: a label is clean
where the given label is correct and ambiguous with p_G = 0 where it is
wrong (selection only: nothing is re-labeled), so BalanceMix trains on
exactly the correct labels. Used by the oracle test of defect 7.
"""
import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from mmbmix.engine.hooks import LabelManagerHook
from mmbmix.models.utils.label_refinery import AMBIGUOUS, CLEAN


@HOOKS.register_module()
class OracleSelectionHook(Hook):
    priority = 'BELOW_NORMAL'  # after LabelManagerHook (NORMAL)

    def after_train_epoch(self, runner):
        hook = next(h for h in runner.hooks if isinstance(h, LabelManagerHook))
        m = hook.manager
        if m.state.label_state is None:
            return
        correct = m.given == m.true
        m.state.label_state = torch.where(
            correct, torch.tensor(CLEAN, dtype=torch.uint8),
            torch.tensor(AMBIGUOUS, dtype=torch.uint8))
        m.state.p_clean = correct.half()
        m.state.refined_labels = m.given.clone()
        hook._push_state()
