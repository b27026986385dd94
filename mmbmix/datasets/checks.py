"""Validation and statistics of multi-label annotations.

Every multi-label dataset of mmbmix runs :func:`check_multilabel_data_list`
when it is built, so that a bad annotation fails at once with a one-line
message naming the annotation file, the entry (index and ``img_path``), the
field and the offending value, instead of failing deep inside a training step.

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
import os.path as osp
from itertools import chain
from typing import List, Optional, Sequence

import numpy as np


def _entry(data_list: Sequence[dict], i: int) -> str:
    """``data_list[i] (img_path='...')``, used to name an entry."""
    return f"data_list[{i}] (img_path={data_list[i].get('img_path')!r})"


def _first_true(mask: np.ndarray) -> int:
    """Index of the first True of a non-empty boolean mask, or -1."""
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else -1


def _label_arrays(data_list: Sequence[dict], ann_file: str):
    """Flatten the ``gt_label`` lists into ``(labels, owners, lengths)``.

    ``labels[j]`` is a class index and ``owners[j]`` the entry it belongs to.
    Raises ValueError for a missing field or a non-integer value.
    """
    raw = [info.get('gt_label') for info in data_list]
    is_seq = np.fromiter(
        (isinstance(v, (list, tuple, np.ndarray)) for v in raw),
        dtype=bool,
        count=len(raw))
    i = _first_true(~is_seq)
    if i >= 0:
        raise ValueError(
            f'{ann_file}: {_entry(data_list, i)} field \'gt_label\' has '
            f'value {raw[i]!r}; expected a list of class indices')
    lengths = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
    flat = list(chain.from_iterable(raw))
    owners = np.repeat(np.arange(len(raw), dtype=np.int64), lengths)
    labels = np.asarray(flat)
    if labels.size and labels.dtype.kind not in 'iu':
        is_int = np.fromiter(
            (isinstance(v, (int, np.integer)) and not isinstance(v, bool)
             for v in flat),
            dtype=bool,
            count=len(flat))
        j = _first_true(~is_int)
        if j < 0:  # all ints but mixed in an object array
            labels = labels.astype(np.int64)
        else:
            i = int(owners[j])
            raise ValueError(
                f'{ann_file}: {_entry(data_list, i)} field \'gt_label\' has '
                f'value {flat[j]!r}; class indices must be integers')
    return labels.astype(np.int64, copy=False), owners, lengths


def check_multilabel_data_list(data_list: Sequence[dict],
                               num_classes: int,
                               ann_file: str,
                               check_paths: bool = True,
                               allow_empty: bool = True) -> None:
    """Validate the entries of a multi-label ``data_list``.

    Each entry must have ``gt_label``, a list of distinct integer class
    indices in ``[0, num_classes)``, and (when ``check_paths``) an
    ``img_path`` that exists. The checks are vectorized over the flattened
    labels; the path check is one ``os.path.exists`` per entry.

    Args:
        data_list (Sequence[dict]): the parsed entries (after
            ``parse_data_info``, so ``img_path`` carries its prefix).
        num_classes (int): K, the number of classes.
        ann_file (str): the annotation file, named in every message.
        check_paths (bool): check that every ``img_path`` exists.
            Defaults to True.
        allow_empty (bool): accept entries with no positive label.
            Defaults to True.

    Raises:
        ValueError: a missing, non-integer, negative, out-of-range or
            duplicate class index, or an empty label list when not allowed.
        FileNotFoundError: an ``img_path`` that does not exist.
    """
    labels, owners, lengths = _label_arrays(data_list, ann_file)
    problems = (
        (labels < 0, 'negative class index'),
        (labels
         >= num_classes, f'class index out of range [0, {num_classes})'),
    )
    for mask, what in problems:
        j = _first_true(mask)
        if j >= 0:
            i = int(owners[j])
            raise ValueError(
                f'{ann_file}: {_entry(data_list, i)} field \'gt_label\' has '
                f'value {int(labels[j])}: {what}')
    # Duplicates: the same (entry, class) key twice.
    keys = owners * num_classes + labels
    uniq, counts = np.unique(keys, return_counts=True)
    dup = _first_true(counts > 1)
    if dup >= 0:
        i, value = divmod(int(uniq[dup]), num_classes)
        raise ValueError(
            f'{ann_file}: {_entry(data_list, i)} field \'gt_label\' has '
            f'value {value} more than once: duplicate label')
    if not allow_empty:
        i = _first_true(lengths == 0)
        if i >= 0:
            raise ValueError(
                f'{ann_file}: {_entry(data_list, i)} field \'gt_label\' has '
                f'value []: no positive label')
    if check_paths:
        paths = [info.get('img_path') for info in data_list]
        exists = np.fromiter(
            (isinstance(p, str) and osp.exists(p) for p in paths),
            dtype=bool,
            count=len(paths))
        i = _first_true(~exists)
        if i >= 0:
            raise FileNotFoundError(
                f'{ann_file}: data_list[{i}] field \'img_path\' has value '
                f'{paths[i]!r}: no such file')


def check_num_classes(dataset_num_classes: int,
                      config_num_classes: Optional[int], where: str) -> None:
    """Check that a ``num_classes`` given in a config matches the dataset.

    Args:
        dataset_num_classes (int): K of the dataset (its ``classes``).
        config_num_classes (int, optional): the ``num_classes`` of the
            config; None means "not given" and passes.
        where (str): where the config value lives, e.g.
            ``'configs/x.py: model.head.num_classes'``; named in the message.

    Raises:
        ValueError: the two numbers differ.
    """
    if config_num_classes is None:
        return
    if int(config_num_classes) != int(dataset_num_classes):
        raise ValueError(
            f'{where}: field \'num_classes\' has value {config_num_classes} '
            f'but the dataset has {dataset_num_classes} classes')


def label_matrix(label_lists: Sequence[Sequence[int]],
                 num_classes: int) -> np.ndarray:
    """Dense ``(N, K)`` bool matrix from lists of class indices."""
    lengths = np.fromiter(
        map(len, label_lists), dtype=np.int64, count=len(label_lists))
    rows = np.repeat(np.arange(len(label_lists)), lengths)
    cols = np.fromiter(
        chain.from_iterable(label_lists),
        dtype=np.int64,
        count=int(lengths.sum()))
    matrix = np.zeros((len(label_lists), num_classes), dtype=bool)
    matrix[rows, cols] = True
    return matrix


def label_statistics(label_lists: Sequence[Sequence[int]],
                     num_classes: int) -> dict:
    """Per-class positive counts and the two imbalance ratios of the paper.

    The class-imbalance ratio is the number of positives of the most frequent
    class over that of the least frequent one (BalanceMix, footnote 1; inf
    when a class has no positive). The positive-negative ratio is the number
    of negative labels over the number of positive labels.

    Args:
        label_lists (Sequence[Sequence[int]]): ``gt_label`` of each instance.
        num_classes (int): K.

    Returns:
        dict: ``class_counts`` (int64 array of K), ``class_imbalance_ratio``,
        ``pos_neg_ratio``, ``num_instances``, ``num_positives``.
    """
    counts = label_matrix(label_lists, num_classes).sum(0).astype(np.int64)
    pos = int(counts.sum())
    neg = len(label_lists) * num_classes - pos
    least = counts.min() if num_classes else 0
    return dict(
        class_counts=counts,
        class_imbalance_ratio=(float(counts.max() /
                                     least) if least > 0 else float('inf')),
        pos_neg_ratio=float(neg / pos) if pos else float('inf'),
        num_instances=len(label_lists),
        num_positives=pos)


def format_statistics(name: str, stats: dict) -> str:
    """One log line for :func:`label_statistics`."""
    return (f'{name}: {stats["num_instances"]} instances, '
            f'{stats["num_positives"]} positive labels, class-imbalance '
            f'ratio {stats["class_imbalance_ratio"]:.1f}, positive-negative '
            f'ratio {stats["pos_neg_ratio"]:.1f}, positives per class '
            f'{stats["class_counts"].tolist()}')


def data_list_labels(data_list: Sequence[dict]) -> List[List[int]]:
    """The ``gt_label`` lists of a data list."""
    return [info['gt_label'] for info in data_list]


def validate_and_report(name: str,
                        data_list: Sequence[dict],
                        num_classes: int,
                        ann_file: str,
                        check_paths: bool = True) -> dict:
    """Validate ``data_list``, log its imbalance and return the statistics.

    The one call every mmbmix multi-label dataset makes in
    ``load_data_list``; see :func:`check_multilabel_data_list` and
    :func:`label_statistics`.
    """
    from mmengine.logging import print_log
    check_multilabel_data_list(
        data_list, num_classes, ann_file, check_paths=check_paths)
    stats = label_statistics(data_list_labels(data_list), num_classes)
    print_log(format_statistics(name, stats), logger='current')
    return stats


def check_training_set(dataset) -> None:
    """Check the annotations of a dataset that is not one of mmbmix's own
    (which check theirs when they load): a user's ``MultiLabelDataset``,
    also inside wrappers such as ``LabelNoiseDataset``.

    Runs :func:`check_multilabel_data_list` on the innermost dataset's
    entries (one-line errors naming the annotation file, the entry, the
    field and the value: a class index out of range, a missing image) and
    warns with the count and the first of the entries that have no
    positive label.
    """
    from mmengine.dataset import BaseDataset
    from mmengine.logging import print_log
    while not isinstance(dataset, BaseDataset) and hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    if not isinstance(dataset, BaseDataset) or getattr(
            dataset, '_mmbmix_checked', False) or \
            type(dataset).__module__.startswith('mmbmix.'):
        return  # mmbmix's own datasets check theirs; a wrapper's checked it
    dataset.full_init()
    ann_file = getattr(dataset, 'ann_file', '') or type(dataset).__name__
    data_list = [dataset.get_data_info(i) for i in range(len(dataset))]
    if not data_list or 'gt_label' not in data_list[0]:
        return
    check_multilabel_data_list(
        data_list,
        len(dataset.metainfo['classes']),
        ann_file,
        # local files only: a remote backend's paths (s3://...) are not
        check_paths='://' not in str(data_list[0].get('img_path', '://')))
    empty = [
        i for i, info in enumerate(data_list) if len(info['gt_label']) == 0
    ]
    if empty:
        print_log(
            f'{ann_file}: {len(empty)} of {len(data_list)} entries have no '
            f"positive label (field 'gt_label' is []; first: "
            f'{_entry(data_list, empty[0])}); they train as all-negative',
            logger='current',
            level=30)
    dataset._mmbmix_checked = True  # the hook sees it again when wrapped
