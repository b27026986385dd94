"""Placeholder: being written."""
class BalanceMixHead:  # noqa
    pass
