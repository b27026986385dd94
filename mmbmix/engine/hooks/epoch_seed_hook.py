"""Re-seed the global random generators at every epoch.

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed ``random``, numpy and torch from ``(seed, epoch, rank)`` at the
    start of every training epoch.

    mmengine seeds once when the runner starts and does not save the
    generators' states in checkpoints, so a resumed run draws different
    augmentations, Mixup ratios and audit views from the uninterrupted run.
    Seeding per epoch makes epoch ``e`` draw the same numbers whether or not
    the run was resumed before it. Workers created per epoch (or
    ``num_workers=0``) inherit it; persistent workers keep the streams they
    were started with, so for bit-exact resumes use
    ``persistent_workers=False``.

    Args:
        seed (int, optional): base seed; defaults to the runner's seed.
    """

    priority = 'VERY_HIGH'

    def __init__(self, seed=None) -> None:
        self.seed = seed

    def before_train_epoch(self, runner) -> None:
        base = runner.seed if self.seed is None else self.seed
        seq = np.random.SeedSequence([int(base), runner.epoch, runner.rank])
        s = int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1))
        random.seed(s)
        np.random.seed(s % 2**32)
        torch.manual_seed(s)
