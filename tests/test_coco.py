import json
import os.path as osp

import numpy as np
import pytest

from mmbmix.datasets import COCOMultiLabel
from mmbmix.datasets.coco import parse_coco_instances

CATEGORIES = [  # deliberately not sorted by id
    dict(id=90, name='toothbrush', supercategory='indoor'),
    dict(id=1, name='person', supercategory='person'),
    dict(id=3, name='car', supercategory='vehicle'),
    dict(id=2, name='bicycle', supercategory='vehicle'),
]
IMAGES = [
    dict(id=42, file_name='COCO_val2014_000000000042.jpg'),
    dict(id=7, file_name='COCO_val2014_000000000007.jpg'),
    dict(id=9, file_name='COCO_val2014_000000000009.jpg'),  # no annotation
    dict(id=5, file_name='COCO_val2014_000000000005.jpg'),
]
ANNOTATIONS = [
    dict(id=1, image_id=42, category_id=3, iscrowd=0),
    dict(id=2, image_id=42, category_id=1, iscrowd=0),
    dict(id=3, image_id=42, category_id=3, iscrowd=0),  # second car
    dict(id=4, image_id=7, category_id=90, iscrowd=1),  # crowd counts
    dict(id=5, image_id=5, category_id=2, iscrowd=0),
    dict(id=6, image_id=5, category_id=1, iscrowd=0),
]


def _write(tmp_path, annotations=ANNOTATIONS, images=IMAGES, make_images=True):
    (tmp_path / 'annotations').mkdir(exist_ok=True)
    (tmp_path / 'val2014').mkdir(exist_ok=True)
    ann = tmp_path / 'annotations' / 'instances_val2014.json'
    ann.write_text(
        json.dumps(
            dict(
                images=images, annotations=annotations,
                categories=CATEGORIES)))
    if make_images:
        for im in images:
            (tmp_path / 'val2014' / im['file_name']).write_bytes(b'jpg')
    return str(ann)


def _build(tmp_path, **kwargs):
    return COCOMultiLabel(
        data_root=str(tmp_path),
        ann_file='annotations/instances_val2014.json',
        data_prefix='val2014',
        **kwargs)


def test_classes_labels_and_filtering(tmp_path):
    _write(tmp_path)
    ds = _build(tmp_path)
    # Classes sorted by category id: person(1), bicycle(2), car(3), brush(90)
    assert ds.metainfo['classes'] == ('person', 'bicycle', 'car', 'toothbrush')
    assert len(ds) == 3  # image 9 has no annotation
    infos = [ds.get_data_info(i) for i in range(3)]
    assert [osp.basename(i['img_path']) for i in infos] == [
        'COCO_val2014_000000000042.jpg', 'COCO_val2014_000000000007.jpg',
        'COCO_val2014_000000000005.jpg'
    ]
    assert infos[0]['img_path'] == osp.join(
        str(tmp_path), 'val2014', IMAGES[0]['file_name'])
    assert [i['gt_label'] for i in infos] == [[0, 2], [3], [0, 1]]
    assert ds.get_cat_ids(2) == [0, 1]
    np.testing.assert_array_equal(ds.class_counts, [2, 1, 1, 1])
    assert ds.class_imbalance_ratio == 2.0
    assert ds.pos_neg_ratio == pytest.approx((12 - 5) / 5)


def test_parse_returns_image_ids(tmp_path):
    classes, entries = parse_coco_instances(_write(tmp_path))
    assert len(classes) == 4
    assert [e['img_id'] for e in entries] == [42, 7, 5]


def test_unknown_category_is_named(tmp_path):
    bad = ANNOTATIONS + [dict(id=9, image_id=7, category_id=77, iscrowd=0)]
    _write(tmp_path, annotations=bad)
    with pytest.raises(ValueError) as err:
        _build(tmp_path)
    msg = str(err.value)
    assert 'instances_val2014.json' in msg and 'annotations[6]' in msg
    assert "'category_id'" in msg and 'value 77' in msg


def test_unknown_image_is_named(tmp_path):
    bad = ANNOTATIONS + [dict(id=9, image_id=1234, category_id=1, iscrowd=0)]
    _write(tmp_path, annotations=bad)
    with pytest.raises(
            ValueError,
            match=r"instances_val2014.json: "
            r"annotations\[6\] field 'image_id' has value 1234"):
        _build(tmp_path)


def test_missing_image_file(tmp_path):
    _write(tmp_path, make_images=False)
    with pytest.raises(FileNotFoundError) as err:
        _build(tmp_path)
    msg = str(err.value)
    assert 'instances_val2014.json' in msg and "'img_path'" in msg
    assert 'COCO_val2014_000000000042.jpg' in msg
    assert len(_build(tmp_path, check_paths=False)) == 3


def test_missing_annotation_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='instances_val2014.json'):
        _build(tmp_path)


def test_classes_mismatch_with_config(tmp_path):
    _write(tmp_path)
    with pytest.raises(ValueError, match="field 'classes'"):
        _build(tmp_path, metainfo=dict(classes=('a', 'b')))
