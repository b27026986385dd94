"""mmbmix: BalanceMix (AAAI 2024) as an mmpretrain plugin.

``import mmbmix`` registers every component into mmpretrain's registries, so
a config needs only::

    custom_imports = dict(imports=['mmbmix'], allow_failed_imports=False)
    default_scope = 'mmpretrain'

Importing it also allow-lists, for ``torch.load(weights_only=True)``, the
few types an mmengine checkpoint holds, so that ``--resume`` works on
torch >= 2.6 without turning the protection off.
"""
import warnings  # isort: skip (the filter below precedes every import)

# mmcv-lite (the CPU install) has no compiled ops; mmpretrain's import of
# mmcv.cnn.bricks.transformer warns about one of them on every command,
# though nothing here uses it. Quiet that one warning (a full mmcv never
# raises it).
warnings.filterwarnings(
    'ignore', message='Fail to import ..MultiScaleDeformableAttention')

from . import baselines  # noqa: F401,E402  (builds on the core)
from . import datasets, engine, evaluation, models, utils  # noqa: F401,E402
from .version import __version__  # noqa: E402

# Let mmengine checkpoints resume under torch.load(weights_only=True) by
# allow-listing exactly the types they hold (see mmbmix/utils/checkpoint.py),
# also for users of mmpretrain's own tools/train.py.
utils.register_safe_globals()

__all__ = ['__version__']
