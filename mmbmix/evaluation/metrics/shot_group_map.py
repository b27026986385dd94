"""Placeholder: being written."""
class ShotGroupAveragePrecision:  # noqa
    pass
