"""Placeholder: being written."""
class MosaicMultiLabel:  # noqa
    pass
