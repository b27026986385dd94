"""Placeholder: being written."""
class BalanceMixLoss:  # noqa
    pass
