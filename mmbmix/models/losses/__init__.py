from .balancemix_loss import BalanceMixLoss

__all__ = ['BalanceMixLoss']
from .large_loss import LargeLossRejectionLoss, large_loss_mask  # noqa: E402

__all__ += ['LargeLossRejectionLoss', 'large_loss_mask']
from .transition_loss import TransitionReweightedLoss  # noqa: E402

__all__ += ['TransitionReweightedLoss']
