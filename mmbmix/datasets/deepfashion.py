"""DeepFashion attributes as a multi-label classification dataset.

BalanceMix (Song et al., AAAI 2024) uses "a fine-grained subset of DeepFashion
with 16,000 training and 4,000 validation instances as well as multi-labels of
26 attribute classes, which are provided by the authors" without listing the
attributes. :func:`convert_deepfashion` turns the attribute files of the
*Category and Attribute Prediction Benchmark* into :class:`MultiLabelDataset`
JSON files:

- Given the fine-grained annotations (``Anno_fine/list_attr_cloth.txt`` has
  exactly 26 attributes: texture, fabric, shape, part, style, fit), all of
  them are kept.
- Given the coarse 1,000-attribute files (``Anno_coarse``/``Anno``), the
  default is the 26 attributes with the most positive labels in the first
  split (decision of mmbmix, since the paper does not list its subset).

``max_per_split=dict(train=16000, val=4000)`` draws the paper's sizes, as a
seeded random subset of each split that keeps the file order.
"""
import json
import os
import os.path as osp
from itertools import islice
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmpretrain.datasets import MultiLabelDataset
from mmpretrain.registry import DATASETS

from .checks import validate_and_report

DEFAULT_NUM_ATTRIBUTES = 26
PARTITIONS = ('train', 'val', 'test')


def _read_count(path: str, line: str) -> int:
    """The row count on line 1 of a DeepFashion list file."""
    try:
        return int(line.split()[0])
    except (ValueError, IndexError):
        raise ValueError(f'{path}: field \'count\' has value {line!r} on '
                         'line 1; expected an integer') from None


def _read_list(path: str, field: str) -> List[str]:
    """Body rows of a DeepFashion list file: line 1 the count, line 2 the
    header; the count is checked."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such DeepFashion list file')
    with open(path) as f:
        lines = f.read().splitlines()
    count = _read_count(path, lines[0] if lines else '')
    rows = [line for line in lines[2:] if line.strip()]
    if count != len(rows):
        raise ValueError(f'{path}: field \'count\' has value {count} but the '
                         f'file has {len(rows)} {field} rows')
    return rows


def read_attr_cloth(path: str) -> tuple:
    """``list_attr_cloth.txt``: names (which may hold spaces) and types."""
    rows = [line.rsplit(None, 1) for line in _read_list(path, 'attribute')]
    bad = [
        i for i, r in enumerate(rows)
        if len(r) != 2 or not r[1].lstrip('-').isdigit()
    ]
    if bad:
        raise ValueError(f'{path}: row {bad[0] + 3} field \'attribute_type\' '
                         f'has value {rows[bad[0]][-1]!r}; expected an '
                         'integer after the name')
    names = tuple(' '.join(r[0].split()) for r in rows)
    types = np.array([int(r[1]) for r in rows], dtype=np.int64)
    return names, types


def _parse_attr_block(lines: List[str], first_row: int, path: str,
                      num_attributes: int) -> tuple:
    """Names and int8 values of a block of ``list_attr_img.txt`` rows
    (``first_row``: 0-based index of the block's first row)."""
    rows = [line.split(None, 1) for line in lines]
    names = [r[0] for r in rows]
    fields = [r[1] if len(r) > 1 else '' for r in rows]
    try:
        values = np.fromstring(' '.join(fields), dtype=np.int16, sep=' ')
    except ValueError:  # a token that is not an integer
        values = np.zeros(0, dtype=np.int16)
    if values.size != len(rows) * num_attributes:
        for i, field in enumerate(fields):  # error path only: find the row
            tokens = field.split()
            bad = [t for t in tokens if not t.lstrip('-').isdigit()]
            if bad or len(tokens) != num_attributes:
                raise ValueError(
                    f'{path}: row {first_row + i + 3} ({names[i]}) field '
                    f'\'attribute_labels\' has ' +
                    (f'value {bad[0]!r}' if bad else
                     f'{len(tokens)} values; expected {num_attributes}'))
        raise ValueError(f'{path}: field \'attribute_labels\' holds '
                         f'{values.size} parsable values in rows '
                         f'{first_row + 3}-{first_row + len(rows) + 2}; '
                         f'expected {num_attributes} per row')
    values = values.reshape(len(rows), num_attributes)
    bad = (values < -1) | (values > 1)
    if bad.any():
        i, a = np.argwhere(bad)[0]
        raise ValueError(f'{path}: row {first_row + i + 3} ({names[i]}) '
                         f'field \'attribute_labels\' has value '
                         f'{values[i, a]} at attribute {a}; expected -1, 0 '
                         'or 1')
    return names, values.astype(np.int8)


def read_attr_img(path: str, num_attributes: int, block: int = 16384) -> tuple:
    """``list_attr_img.txt``: image names and an int8 ``(N, A)`` matrix of
    -1/0/1 values (1 is a positive label).

    Streamed in blocks of rows, each parsed by one numpy call, so that the
    full coarse file (289,222 x 1,000) needs little more memory than its
    int8 matrix.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such DeepFashion list file')
    names, blocks = [], []
    with open(path) as f:
        count = _read_count(path, f.readline())
        f.readline()  # header
        while True:
            lines = [ln for ln in islice(f, block) if ln.strip()]
            if not lines:
                break
            n, v = _parse_attr_block(lines, len(names), path, num_attributes)
            names += n
            blocks.append(v)
    if count != len(names):
        raise ValueError(f'{path}: field \'count\' has value {count} but the '
                         f'file has {len(names)} image rows')
    values = (
        np.concatenate(blocks) if blocks else np.zeros(
            (0, num_attributes), dtype=np.int8))
    return names, values


def read_partition(path: str) -> Dict[str, str]:
    """``list_eval_partition.txt``: image name -> ``train|val|test``."""
    rows = [r.split() for r in _read_list(path, 'image')]
    for i, r in enumerate(rows):
        if len(r) < 2 or r[-1] not in PARTITIONS:
            raise ValueError(f'{path}: row {i + 3} field '
                             f'\'evaluation_status\' has value '
                             f'{r[-1] if r else ""!r}; expected one of '
                             f'{PARTITIONS}')
    return {r[0]: r[-1] for r in rows}


def _select_attributes(attributes, names: Sequence[str], positives: np.ndarray,
                       path: str) -> np.ndarray:
    """Indices of the chosen attributes (names or indices), or the
    :data:`DEFAULT_NUM_ATTRIBUTES` most frequent ones by default."""
    if attributes is None:
        if len(names) <= DEFAULT_NUM_ATTRIBUTES:
            return np.arange(len(names))
        # Most positives first; ties by file order.
        order = np.argsort(-positives, kind='stable')
        return np.sort(order[:DEFAULT_NUM_ATTRIBUTES])
    index = {n: i for i, n in enumerate(names)}
    chosen = []
    for a in attributes:
        if isinstance(a, str) and ' '.join(a.split()) in index:
            chosen.append(index[' '.join(a.split())])
        elif isinstance(a, (int, np.integer)) and 0 <= a < len(names):
            chosen.append(int(a))
        else:
            raise ValueError(f'{path}: field \'attributes\' has value {a!r}, '
                             'which is not an attribute name or index of '
                             'the file')
    if len(set(chosen)) != len(chosen):
        raise ValueError(f'{path}: field \'attributes\' has value '
                         f'{list(attributes)!r} with a repeated attribute')
    return np.array(chosen, dtype=np.int64)


def convert_deepfashion(list_attr_cloth: str,
                        list_attr_img: str,
                        list_eval_partition: str,
                        out_dir: str,
                        attributes: Optional[Sequence[Union[str, int]]] = None,
                        splits: Sequence[str] = ('train', 'val'),
                        max_per_split: Union[None, int, Dict[str, int]] = None,
                        seed: int = 0,
                        img_prefix: str = '') -> Dict[str, str]:
    """Write DeepFashion attribute labels as MultiLabelDataset JSON files.

    Args:
        list_attr_cloth (str): ``list_attr_cloth.txt`` (attribute names).
        list_attr_img (str): ``list_attr_img.txt`` (per-image -1/0/1 values;
            1 is positive, -1 and 0 negative).
        list_eval_partition (str): ``list_eval_partition.txt``.
        out_dir (str): where ``<split>.json`` are written.
        attributes (Sequence[str | int], optional): the attributes to keep,
            as names or 0-based indices of ``list_attr_cloth``. Defaults to
            all of them when the file has at most 26 (``Anno_fine``), else
            the 26 with the most positives in ``splits[0]``.
        splits (Sequence[str]): partitions to write. Defaults to
            ``('train', 'val')``.
        max_per_split (int | dict, optional): most images per split (one
            number, or one per split name, e.g. ``dict(train=16000,
            val=4000)`` as in BalanceMix); a seeded random subset in file
            order. Defaults to None (all).
        seed (int): seed of that subset. Defaults to 0.
        img_prefix (str): prepended to each image name in the JSON.
            Defaults to '' (names stay as in the file, e.g. ``img/...jpg``).

    Returns:
        dict: split name -> path of the written JSON.
    """
    for s in splits:
        if s not in PARTITIONS:
            raise ValueError(f'{list_eval_partition}: field \'splits\' has '
                             f'value {s!r}; expected one of {PARTITIONS}')
    attr_names, _ = read_attr_cloth(list_attr_cloth)
    img_names, values = read_attr_img(list_attr_img, len(attr_names))
    partition = read_partition(list_eval_partition)
    status = np.array([partition.get(n, '') for n in img_names])
    positive = values == 1
    first = status == splits[0]
    chosen = _select_attributes(attributes, attr_names, positive[first].sum(0),
                                list_attr_cloth)
    classes = [attr_names[i] for i in chosen]
    labels = positive[:, chosen]
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for split in splits:
        rows = np.flatnonzero(status == split)
        limit = (
            max_per_split.get(split)
            if isinstance(max_per_split, dict) else max_per_split)
        if limit is not None and rows.size > limit:
            rows = np.sort(rng.choice(rows, int(limit), replace=False))
        r, c = np.nonzero(labels[rows])
        gt = np.split(c, np.searchsorted(r, np.arange(1, rows.size)))
        data_list = [
            dict(
                img_path=osp.join(img_prefix, img_names[i])
                if img_prefix else img_names[i],
                gt_label=g.tolist()) for i, g in zip(rows.tolist(), gt)
        ]
        path = osp.join(out_dir, f'{split}.json')
        with open(path, 'w') as f:
            json.dump(
                dict(metainfo=dict(classes=classes), data_list=data_list), f)
        written[split] = path
    return written


@DATASETS.register_module()
class DeepFashionMultiLabel(MultiLabelDataset):
    """A JSON written by :func:`convert_deepfashion`, validated when built.

    The same as :class:`MultiLabelDataset` plus the checks of
    :func:`mmbmix.datasets.checks.check_multilabel_data_list` and the
    logged class-imbalance / positive-negative ratios (239 and 3 in
    BalanceMix), kept as :attr:`class_imbalance_ratio`, :attr:`pos_neg_ratio`
    and :attr:`class_counts`.

    Args:
        check_paths (bool): check that every image exists. Defaults to True.
        **kwargs: the arguments of :class:`MultiLabelDataset`
            (``ann_file``, ``data_root``, ``data_prefix``, ``pipeline``...).
    """

    def __init__(self, check_paths: bool = True, **kwargs):
        self.check_paths = check_paths
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        stats = validate_and_report(
            f'DeepFashionMultiLabel({osp.basename(self.ann_file)})',
            data_list,
            len(self._metainfo['classes']),
            self.ann_file,
            check_paths=self.check_paths)
        self.class_counts = stats['class_counts']
        self.class_imbalance_ratio = stats['class_imbalance_ratio']
        self.pos_neg_ratio = stats['pos_neg_ratio']
        return data_list
