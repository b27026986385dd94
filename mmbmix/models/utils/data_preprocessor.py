"""Placeholder: being written."""
class BalanceMixDataPreprocessor:  # noqa
    pass
