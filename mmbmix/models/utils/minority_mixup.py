"""Placeholder: being written."""
class MinorityMixup:  # noqa
    pass
