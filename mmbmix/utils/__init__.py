from .checkpoint import register_safe_globals
from .config import hook_cfgs
from .dist import broadcast_tensor
from .dual_batch import join_dual_batch, split_dual_batch, split_views

__all__ = [
    'register_safe_globals', 'hook_cfgs', 'join_dual_batch',
    'split_dual_batch', 'broadcast_tensor', 'split_views'
]
