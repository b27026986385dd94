from .epoch_seed_hook import EpochSeedHook
from .label_manager_hook import LabelManagerHook

__all__ = ['EpochSeedHook', 'LabelManagerHook']
