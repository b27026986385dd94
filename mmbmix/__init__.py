"""mmbmix: BalanceMix (AAAI 2024) as an mmpretrain plugin.

``import mmbmix`` registers every component into mmpretrain's registries, so
a config needs only::

    custom_imports = dict(imports=['mmbmix'], allow_failed_imports=False)
    default_scope = 'mmpretrain'

Importing it also allow-lists, for ``torch.load(weights_only=True)``, the
few types an mmengine checkpoint holds, so that ``--resume`` works on
torch >= 2.6 without turning the protection off.
"""
from . import baselines  # noqa: F401,E402  (after the core it builds on)
from . import datasets, engine, evaluation, models, utils  # noqa: F401
from .version import __version__

# Let mmengine checkpoints resume under torch.load(weights_only=True) by
# allow-listing exactly the types they hold (see mmbmix/utils/checkpoint.py),
# also for users of mmpretrain's own tools/train.py.
utils.register_safe_globals()

__all__ = ['__version__']
