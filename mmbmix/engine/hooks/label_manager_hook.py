"""Placeholder: being written."""
class LabelManagerHook:  # noqa
    pass
