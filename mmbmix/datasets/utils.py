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


def as_label_csr(labels, num_classes=None):
    """A ``scipy.sparse.csr_array`` of bool labels from a dense ``(N, K)``
    matrix (numpy or torch) or a scipy sparse matrix (returned as CSR, with
    sorted indices and no explicit zeros)."""
    from scipy import sparse
    if sparse.issparse(labels):
        csr = sparse.csr_array(labels, dtype=bool)
    else:
        dense = np.asarray(
            labels.numpy() if isinstance(labels, torch.Tensor) else labels)
        if dense.ndim != 2:
            raise ValueError('label matrix must have shape (N, K), got shape '
                             f'{dense.shape}')
        csr = sparse.csr_array(dense.astype(bool, copy=False))
    csr.eliminate_zeros()
    csr.sort_indices()
    if num_classes is not None and csr.shape[1] != num_classes:
        raise ValueError(f'label matrix has {csr.shape[1]} classes, expected '
                         f'{num_classes}')
    return csr


def get_label_csr(dataset, num_classes=None):
    """The labels a dataset *gives* as an ``(N, K)`` bool
    ``scipy.sparse.csr_array``, without building the dense matrix.

    A dataset may provide it as ``dataset.label_csr`` (the noise wrapper with
    ``sparse=True`` does); a dense ``dataset.label_matrix`` is converted;
    otherwise it is built from ``dataset.get_cat_ids(i)``.

    Args:
        dataset: an mmengine/mmpretrain dataset.
        num_classes (int, optional): K. Defaults to ``len(dataset.CLASSES)``.
    """
    from scipy import sparse
    if getattr(dataset, 'label_csr', None) is not None:
        return as_label_csr(dataset.label_csr, num_classes)
    if getattr(dataset, 'label_matrix', None) is not None:
        return as_label_csr(dataset.label_matrix, num_classes)
    if num_classes is None:
        num_classes = len(dataset.metainfo['classes'])
    n = len(dataset)
    indptr = np.zeros(n + 1, dtype=np.int64)
    cols = []
    for i in range(n):
        cats = np.unique(
            np.asarray(dataset.get_cat_ids(i), dtype=np.int64).reshape(-1))
        indptr[i + 1] = indptr[i] + cats.size
        cols.append(cats)
    indices = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        bad = indices[(indices < 0) | (indices >= num_classes)][0]
        raise ValueError(f'{type(dataset).__name__}: label index {bad} is '
                         f'outside [0, {num_classes})')
    return sparse.csr_array((np.ones(indices.size, bool), indices, indptr),
                            shape=(n, num_classes))


def label_digest(labels) -> str:
    """SHA-256 of a label matrix's shape and positive entries, the same for
    its dense and its sparse form (row by row, column indices ascending)."""
    import hashlib
    csr = as_label_csr(labels)
    h = hashlib.sha256(np.asarray(csr.shape, dtype=np.int64).tobytes())
    h.update(np.asarray(csr.indptr, dtype=np.int64).tobytes())
    h.update(np.asarray(csr.indices, dtype=np.int64).tobytes())
    return h.hexdigest()
