"""mmbmix: BalanceMix (AAAI 2024) as an mmpretrain plugin.

``import mmbmix`` registers every component into mmpretrain's registries, so
a config needs only::

    custom_imports = dict(imports=['mmbmix'], allow_failed_imports=False)
    default_scope = 'mmpretrain'
"""
from . import datasets, engine, evaluation, models, utils  # noqa: F401
from .version import __version__

__all__ = ['__version__']
