"""Let mmengine checkpoints load under ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``, and the
unpickler refuses every global that is not allow-listed. An mmengine 0.10.7
epoch checkpoint (numpy 2) holds, besides tensors, the message hub's
``HistoryBuffer`` objects, whose state is numpy arrays and scalars, so
``runner.resume()`` fails with "Unsupported global". The checkpoint's globals
(see ``torch.serialization.get_unsafe_globals_in_checkpoint``) are::

    mmengine.logging.history_buffer.HistoryBuffer
    numpy._core.multiarray._reconstruct   # ndarray.__reduce__
    numpy._core.multiarray.scalar         # numpy scalar, e.g. runtime 'eta'
    numpy.ndarray
    numpy.dtype                           # + BUILD on numpy.dtypes.*DType
    builtins.getattr

``builtins.getattr`` comes from ``HistoryBuffer.__getstate__``, which stores
the unbound methods ``HistoryBuffer.min/max/current/mean`` (its
``statistics_methods``); pickle protocol 2 writes each as
``getattr(HistoryBuffer, 'min')``. The real ``getattr`` would let any file
walk attributes of allow-listed objects (``getattr.__self__`` is the
``builtins`` module) and, through ``HistoryBuffer.__setstate__``, plant what it
finds in the class-wide ``HistoryBuffer._statistics_methods`` table. So we
register, under the name ``builtins.getattr``, a getattr that resolves only
those four methods of ``HistoryBuffer`` and refuses everything else.
"""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.utils import digit_version

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray

_STATISTICS = ('min', 'max', 'current', 'mean')

# dtypes whose dtype class (``numpy.dtypes.Float64DType`` ...) may need a
# BUILD: the epoch checkpoint uses float64 and int64; the other numeric ones
# cover hooks that keep float32/bool arrays or scalars in the message hub.
# Object, string and void dtypes stay refused.
_NUMERIC_DTYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                   np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                   np.float64)


def history_buffer_getattr(obj, name):
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods.

    Registered as ``builtins.getattr`` for ``weights_only`` loading.

    Args:
        obj (object): Must be :class:`mmengine.logging.HistoryBuffer`.
        name (str): One of ``'min'``, ``'max'``, ``'current'``, ``'mean'``.

    Returns:
        function: The unbound method ``HistoryBuffer.<name>``.
    """
    if obj is HistoryBuffer and name in _STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'weights_only load: getattr({obj!r}, {name!r}) is refused; only '
        f'HistoryBuffer.{{{",".join(_STATISTICS)}}} are allowed')


def _safe_globals():
    dtype_classes = sorted({type(np.dtype(t))
                            for t in _NUMERIC_DTYPES}, key=str)
    return [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        *dtype_classes,
        # Under both module names: numpy 1 wrote ``numpy.core``, numpy 2
        # writes ``numpy._core``.
        (_multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
        (_multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (_multiarray.scalar, 'numpy._core.multiarray.scalar'),
        (_multiarray.scalar, 'numpy.core.multiarray.scalar'),
        (history_buffer_getattr, 'builtins.getattr'),
    ]


def register_safe_globals():
    """Allow-list what an mmengine checkpoint needs for ``weights_only``.

    Call it once before ``runner.resume()`` / ``load_checkpoint`` (the tools
    do). It is idempotent. ``weights_only`` stays on: every other global, and
    ``getattr`` on anything but ``HistoryBuffer``'s statistics methods, is
    still refused. On torch < 2.6, where ``torch.load`` does not default to
    ``weights_only=True``, it does nothing.

    Returns:
        list: The registered globals (objects or ``(object, name)`` pairs);
        empty on torch < 2.6.
    """
    if digit_version(torch.__version__) < digit_version('2.6.0'):
        return []
    safe = _safe_globals()
    torch.serialization.add_safe_globals(safe)
    return safe
