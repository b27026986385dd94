from .checkpoint import register_safe_globals
from .dual_batch import join_dual_batch, split_dual_batch

__all__ = ['register_safe_globals', 'join_dual_batch', 'split_dual_batch']
