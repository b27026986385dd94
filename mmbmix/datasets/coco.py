"""MS-COCO as a multi-label classification dataset (80 classes).

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
import json
import os.path as osp
from typing import List, Sequence

import numpy as np
from mmpretrain.datasets import MultiLabelDataset
from mmpretrain.registry import DATASETS

from .checks import validate_and_report


def _require(obj: dict, field: str, ann_file: str, where: str):
    if field not in obj:
        raise ValueError(f'{ann_file}: {where} has no field {field!r}')
    return obj[field]


def parse_coco_instances(ann_file: str) -> tuple:
    """Read a COCO ``instances_*.json`` into multi-label entries.

    Classes are the categories sorted by id (the standard order of the 80
    COCO classes); an image's labels are the distinct categories of all its
    annotations (crowd ones included, as in ASL and ML-Decoder). Images with
    no annotation are dropped, leaving 82,081 train / 40,137 val images for
    COCO 2014 and 117,266 / 4,952 for COCO 2017. Images keep the order of
    the file's ``images`` list.

    Args:
        ann_file (str): path of the instances JSON.

    Returns:
        tuple: ``(classes, entries)``, the class names and a list of
        ``dict(img_path=file_name, gt_label=[...], img_id=id)``.

    Raises:
        ValueError: a missing field, or an annotation whose ``category_id``
            or ``image_id`` is not declared in the file.
    """
    with open(ann_file) as f:
        coco = json.load(f)
    for field in ('images', 'annotations', 'categories'):
        _require(coco, field, ann_file, 'the file')
    cats = sorted(
        coco['categories'],
        key=lambda c: _require(c, 'id', ann_file, 'a category'))
    cat_ids = np.array([c['id'] for c in cats], dtype=np.int64)
    classes = tuple(_require(c, 'name', ann_file, 'a category') for c in cats)
    img_ids = np.array(
        [_require(im, 'id', ann_file, 'an image') for im in coco['images']],
        dtype=np.int64)
    ann_img = np.array([
        _require(a, 'image_id', ann_file, 'an annotation')
        for a in coco['annotations']
    ],
                       dtype=np.int64)
    ann_cat = np.array([
        _require(a, 'category_id', ann_file, 'an annotation')
        for a in coco['annotations']
    ],
                       dtype=np.int64)
    cat_idx = _lookup(cat_ids, ann_cat, ann_file, 'category_id')
    img_idx = _lookup(img_ids, ann_img, ann_file, 'image_id')
    # Distinct (image, class) pairs, sorted by image then class.
    pairs = np.unique(img_idx * len(classes) + cat_idx)
    pair_img, pair_cls = np.divmod(pairs, len(classes))
    kept, first = np.unique(pair_img, return_index=True)
    labels = np.split(pair_cls, first[1:])
    entries = [
        dict(
            img_path=_require(coco['images'][i], 'file_name', ann_file,
                              f'images[{i}]'),
            gt_label=lab.tolist(),
            img_id=int(img_ids[i])) for i, lab in zip(kept.tolist(), labels)
    ]
    return classes, entries


def _lookup(keys: np.ndarray, values: np.ndarray, ann_file: str,
            field: str) -> np.ndarray:
    """Index of each value in ``keys``; an unknown value raises."""
    order = np.argsort(keys, kind='stable')
    pos = np.searchsorted(keys, values, sorter=order)
    pos = np.minimum(pos, max(len(keys) - 1, 0))
    found = (keys[order[pos]] == values) if len(keys) else \
        np.zeros(len(values), dtype=bool)
    if not found.all():
        j = int(np.flatnonzero(~found)[0])
        raise ValueError(f'{ann_file}: annotations[{j}] field {field!r} has '
                         f'value {int(values[j])}, which no '
                         f'{field.split("_")[0]} of the file declares')
    return order[pos]


@DATASETS.register_module()
class COCOMultiLabel(MultiLabelDataset):
    """MS-COCO 2014/2017 for multi-label classification.

    Reads an ``instances_*.json`` directly (see :func:`parse_coco_instances`)
    and validates the result; no conversion step is needed. Logs the
    class-imbalance and positive-negative ratios (339 and 27 for COCO 2014
    train in BalanceMix) and keeps them as :attr:`class_imbalance_ratio`,
    :attr:`pos_neg_ratio` and :attr:`class_counts`.

    Args:
        ann_file (str): the instances JSON, e.g.
            ``'annotations/instances_train2014.json'``.
        data_root (str): root joined to ``ann_file`` and ``data_prefix``.
            Defaults to ''.
        data_prefix (str | dict): folder of the images, e.g.
            ``'train2014/'``. Defaults to ''.
        check_paths (bool): check that every image file exists when the
            dataset is built. Defaults to True.
        **kwargs: other arguments of :class:`MultiLabelDataset`.

    Example:
        >>> ds = COCOMultiLabel(
        ...     data_root='data/coco',
        ...     ann_file='annotations/instances_train2014.json',
        ...     data_prefix='train2014/')
        >>> len(ds)
        82081
    """

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 data_prefix='',
                 check_paths: bool = True,
                 **kwargs):
        self.check_paths = check_paths
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Parse the instances file, then validate the entries."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{self.ann_file}: no such COCO '
                                    'instances file')
        classes, entries = parse_coco_instances(self.ann_file)
        given = self._metainfo.get('classes')
        if given is not None and tuple(given) != classes:
            raise ValueError(
                f'{self.ann_file}: field \'classes\' has value '
                f'{list(given)[:3]}...({len(given)}) in the config but the '
                f'file has {list(classes)[:3]}...({len(classes)})')
        self._metainfo['classes'] = classes
        prefix = self.data_prefix.get('img_path', '')
        data_list = [
            dict(e, img_path=osp.join(prefix, e['img_path'])) for e in entries
        ]
        stats = validate_and_report(
            f'COCOMultiLabel({osp.basename(self.ann_file)})',
            data_list,
            len(classes),
            self.ann_file,
            check_paths=self.check_paths)
        self.class_counts = stats['class_counts']
        self.class_imbalance_ratio = stats['class_imbalance_ratio']
        self.pos_neg_ratio = stats['pos_neg_ratio']
        return data_list

    def extra_repr(self) -> Sequence[str]:
        return [
            f'Annotation file: \t{self.ann_file}',
            f'Prefix of images: \t{self.img_prefix}'
        ]
