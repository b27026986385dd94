from .balancemix_head import BalanceMixHead

__all__ = ['BalanceMixHead']
