"""Helpers shared by the multi-label datasets.

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
import numpy as np
import torch


def get_label_matrix(dataset, num_classes=None) -> torch.Tensor:
    """Dense ``(N, K)`` bool matrix of the labels a dataset *gives*.

    A dataset may provide it directly as ``dataset.label_matrix`` (the
    noise wrapper does: its labels are the noisy ones); otherwise it is built
    from ``dataset.get_cat_ids(i)``, the mmpretrain interface every
    multi-label dataset has.

    Args:
        dataset: an mmengine/mmpretrain dataset.
        num_classes (int, optional): K. Defaults to ``len(dataset.CLASSES)``.
    """
    if getattr(dataset, 'label_matrix', None) is not None:
        return torch.as_tensor(dataset.label_matrix, dtype=torch.bool)
    if num_classes is None:
        num_classes = len(dataset.metainfo['classes'])
    n = len(dataset)
    rows, cols = [], []
    for i in range(n):
        cats = np.asarray(dataset.get_cat_ids(i), dtype=np.int64).reshape(-1)
        rows.append(np.full(len(cats), i, dtype=np.int64))
        cols.append(cats)
    matrix = torch.zeros(n, num_classes, dtype=torch.bool)
    if n:
        matrix[torch.from_numpy(np.concatenate(rows)),
               torch.from_numpy(np.concatenate(cols))] = True
    return matrix
