"""Placeholder: being written."""
class COCOMultiLabel:  # noqa
    pass
