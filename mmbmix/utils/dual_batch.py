"""The dual batch of BalanceMix (Eq. 4-5): random half, then minority half.

Every batch the :class:`~mmbmix.datasets.DualBatchSampler` yields holds the
``B`` instances of the ordinary random sampler followed by the ``B``
instances of the minority sampler; instance ``i`` of the first half is mixed
with instance ``i`` of the second. These two functions are the only place
that layout is written down.
"""
from typing import Sequence, Tuple, TypeVar

T = TypeVar('T', bound=Sequence)


def join_dual_batch(random_half: list, minority_half: list) -> list:
    """The dual batch of two equally long halves."""
    if len(random_half) != len(minority_half):
        raise ValueError(f'dual batch: the random half has {len(random_half)} '
                         f'instances, the minority half {len(minority_half)}')
    return list(random_half) + list(minority_half)


def split_dual_batch(batch: T) -> Tuple[T, T]:
    """``(random half, minority half)`` of a dual batch (a list, tensor or
    any sliceable sequence whose first dimension is ``2B``)."""
    n = len(batch)
    if n % 2:
        raise ValueError(
            f'dual batch: expected a random half and an equal minority half, '
            f'got {n} instances (use DualBatchSampler)')
    return batch[:n // 2], batch[n // 2:]


def split_views(inputs) -> list:
    """The views of a collated training batch: a ``MultiView`` pipeline
    collates into one batch per view (``(B, C, H, W)`` tensors, or lists of
    ``(C, H, W)`` tensors); a single view is ``[inputs]``. The first view
    is the one trained on."""
    if isinstance(inputs, (list, tuple)) and inputs:
        first = inputs[0]
        if isinstance(first, (list, tuple)) or (hasattr(first, 'dim')
                                                and first.dim() == 4):
            return list(inputs)
    return [inputs]
