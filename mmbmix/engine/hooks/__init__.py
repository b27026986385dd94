from .epoch_seed_hook import EpochSeedHook
from .label_manager_hook import LabelManagerHook
from .unmixed_bn_hook import UnmixedBNHook

__all__ = ['EpochSeedHook', 'LabelManagerHook', 'UnmixedBNHook']
