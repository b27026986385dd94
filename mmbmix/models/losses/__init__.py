from .balancemix_loss import BalanceMixLoss

__all__ = ['BalanceMixLoss']
