"""Placeholder: being written."""
class LabelNoiseDataset:  # noqa
    pass
