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

The tools also check a checkpoint before the runner touches it
(:func:`checkpoint_guard`): a missing or cut-short file (a run killed while
``torch.save`` was writing it) is a one-line :class:`CheckpointError`
naming the file, auto-resume skips such files
(:func:`find_resumable_checkpoint`), and a file that the weights-only
unpickler refuses is reported as untrusted unless the user vouches for it
(``--trust-checkpoint`` / ``MMBMIX_TRUST_CHECKPOINT=1``), which turns
``weights_only`` off for that one file only (:func:`trusted_checkpoint`).

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
import contextlib
import functools
import glob
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import Optional

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
                            for t in _NUMERIC_DTYPES},
                           key=str)
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


TRUST_ENV = 'MMBMIX_TRUST_CHECKPOINT'


class CheckpointError(ValueError):
    """A checkpoint that is missing, cut short, or refused as untrusted."""


def _is_local(path: str) -> bool:
    return '://' not in str(path)


def check_checkpoint_file(path: str) -> None:
    """Raise :class:`CheckpointError` if ``path`` is missing or incomplete.

    ``torch.save`` writes a zip archive whose directory is at the end, so a
    file cut short while being written has no end record; checking it reads
    only the file's tail. Files in torch's legacy (pre-1.6, non-zip) format
    are left to ``torch.load``. Remote paths (``s3://``, ``http://``) are
    not checked.

    Args:
        path (str): the checkpoint file.
    """
    if not _is_local(path):
        return
    if not osp.isfile(path):
        raise CheckpointError(f'checkpoint {path} does not exist')
    with open(path, 'rb') as f:
        head = f.read(4)
    if not head:
        raise CheckpointError(f'checkpoint {path} is empty (0 bytes)')
    if head.startswith(b'PK') and not zipfile.is_zipfile(path):
        raise CheckpointError(
            f'checkpoint {path} is incomplete ({osp.getsize(path)} bytes, '
            'no zip end record): it was cut short while being written, e.g. '
            'by a killed run; use an earlier checkpoint of the run')


def is_complete_checkpoint(path: str) -> bool:
    """Whether :func:`check_checkpoint_file` accepts ``path``."""
    try:
        check_checkpoint_file(path)
    except CheckpointError:
        return False
    return True


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint that ``--resume`` (auto) should continue from.

    mmengine's ``CheckpointHook`` writes ``<work_dir>/last_checkpoint`` after
    the checkpoint itself, so the file it names is normally complete. When
    ``last_checkpoint`` is missing, empty (killed while writing it), or
    names a file that is gone or incomplete (e.g. a work directory that was
    moved), this falls back to the most recently written complete
    ``epoch_*.pth`` / ``iter_*.pth`` in ``work_dir``.

    Args:
        work_dir (str): the run's work directory.

    Returns:
        str or None: a checkpoint path, or None when there is none.
    """
    named = None
    save_file = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(save_file):
        with open(save_file) as f:
            named = f.read().strip() or None
    if named is not None and (not _is_local(named)
                              or is_complete_checkpoint(named)):
        return named
    found = [
        p for p in glob.glob(osp.join(work_dir, '*.pth'))
        if re.fullmatch(r'(epoch|iter)_\d+\.pth', osp.basename(p))
        and is_complete_checkpoint(p)
    ]
    return max(found, key=osp.getmtime) if found else None


def trust_requested(flag: bool = False) -> bool:
    """``flag`` or the environment variable ``MMBMIX_TRUST_CHECKPOINT=1``."""
    return bool(flag) or os.environ.get(TRUST_ENV, '') == '1'


@contextlib.contextmanager
def trusted_checkpoint(path: str):
    """Within the block, ``torch.load(path)`` uses ``weights_only=False``.

    Only calls whose file argument resolves to ``path`` are affected: every
    other file is still loaded with torch's default (``weights_only=True``).
    A full unpickle can run any code stored in the file, so use this only for
    files you trust.

    Args:
        path (str): the trusted checkpoint file.
    """
    real = osp.realpath(path)
    load = torch.load

    @functools.wraps(load)
    def trusting_load(f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)) and \
                osp.realpath(osp.expanduser(f)) == real:
            kwargs['weights_only'] = False
        return load(f, *args, **kwargs)

    torch.load = trusting_load
    try:
        yield
    finally:
        torch.load = load


def _refusal_reason(error: Exception) -> str:
    """The one informative line of torch's weights-only error."""
    boilerplate = ('Weights only load failed', 'Check the documentation',
                   'Please file an issue', 'In PyTorch 2.6')
    for line in str(error).splitlines():
        line = line.split('WeightsUnpickler error:', 1)[-1].strip()
        if line and not line.startswith(boilerplate):
            return line
    return type(error).__name__


@contextlib.contextmanager
def checkpoint_guard(path: Optional[str], trust: bool = False):
    """Check ``path`` now and explain a refused load inside the block.

    Before the block: :func:`check_checkpoint_file`. Inside it, a
    ``pickle.UnpicklingError`` from loading (what torch's weights-only
    unpickler raises for a global that is not allow-listed, or for a
    ``getattr`` other than ``HistoryBuffer``'s statistics methods) becomes a
    one-line :class:`CheckpointError` naming the file and saying how to load
    it anyway. With ``trust`` (or ``MMBMIX_TRUST_CHECKPOINT=1``) the file is
    loaded with ``weights_only=False`` (:func:`trusted_checkpoint`).

    Args:
        path (str, optional): the checkpoint; None checks nothing.
        trust (bool): the user trusts this file.
    """
    if path is None:
        yield
        return
    check_checkpoint_file(path)
    trust = trust_requested(trust)
    with trusted_checkpoint(path) if trust else contextlib.nullcontext():
        try:
            yield
        except pickle.UnpicklingError as e:
            if trust:
                raise CheckpointError(
                    f'checkpoint {path} could not be unpickled: '
                    f'{_refusal_reason(e)}') from e
            raise CheckpointError(
                f'checkpoint {path} was refused by the weights-only loader '
                f'({_refusal_reason(e)}); a full unpickle could run code '
                'stored in it. If you trust the file, pass '
                f'--trust-checkpoint or set {TRUST_ENV}=1') from None
