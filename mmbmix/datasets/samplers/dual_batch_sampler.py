"""Placeholder: being written."""
class DualBatchSampler:  # noqa
    pass
