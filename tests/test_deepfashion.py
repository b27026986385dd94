import json
import os.path as osp

import numpy as np
import pytest

from mmbmix.datasets import convert_deepfashion
from mmbmix.datasets.deepfashion import DeepFashionMultiLabel

ATTRS = ['a-line', 'abstract print', 'floral', 'denim', 'knit', 'solid']
# image name, values of the 6 attributes, partition
ROWS = [
    ('img/Floral_Dress/img_00000001.jpg', [1, -1, 1, -1, -1, -1], 'train'),
    ('img/Floral_Dress/img_00000002.jpg', [-1, -1, 1, -1, 0, -1], 'train'),
    ('img/Denim_Jacket/img_00000001.jpg', [-1, -1, -1, 1, -1, 1], 'train'),
    ('img/Knit_Top/img_00000001.jpg', [-1, 1, 1, -1, 1, -1], 'train'),
    ('img/Knit_Top/img_00000002.jpg', [-1, -1, -1, -1, 1, -1], 'val'),
    ('img/Knit_Top/img_00000003.jpg', [1, 1, -1, -1, -1, -1], 'val'),
    ('img/Denim_Jacket/img_00000002.jpg', [-1, -1, -1, 1, 0, 0], 'test'),
]


def _write_lists(tmp_path, attrs=ATTRS, rows=ROWS, count_img=None):
    cloth = tmp_path / 'list_attr_cloth.txt'
    cloth.write_text(f'{len(attrs)}\nattribute_name  attribute_type\n' +
                     ''.join(f'{a:<30}{i % 5 + 1}\n'
                             for i, a in enumerate(attrs)))
    img = tmp_path / 'list_attr_img.txt'
    n = len(rows) if count_img is None else count_img
    img.write_text(f'{n}\nimage_name  attribute_labels\n' +
                   ''.join(f'{name:<60}' + ' '.join(f'{v:2d}'
                                                    for v in vals) + '\n'
                           for name, vals, _ in rows))
    part = tmp_path / 'list_eval_partition.txt'
    part.write_text(f'{len(rows)}\nimage_name  evaluation_status\n' +
                    ''.join(f'{name:<60}{s}\n' for name, _, s in rows))
    return str(cloth), str(img), str(part)


def _load(path):
    with open(path) as f:
        return json.load(f)


def test_convert_all_attributes(tmp_path):
    files = _write_lists(tmp_path)
    out = convert_deepfashion(*files, str(tmp_path / 'out'))
    assert set(out) == {'train', 'val'}
    train, val = _load(out['train']), _load(out['val'])
    # At most 26 attributes: all kept, names with spaces intact.
    assert train['metainfo']['classes'] == ATTRS
    assert [d['img_path']
            for d in train['data_list']] == [r[0] for r in ROWS[:4]]
    # 1 is positive; -1 and 0 are negative.
    assert [d['gt_label'] for d in train['data_list']] == [[0, 2], [2], [3, 5],
                                                           [1, 2, 4]]
    assert [d['gt_label'] for d in val['data_list']] == [[4], [0, 1]]


def test_default_picks_most_frequent_when_more_than_26(tmp_path):
    attrs = [f'attr {i}' for i in range(30)]
    rng = np.random.default_rng(0)
    freq = np.linspace(0.9, 0.05, 30)  # attr i has decreasing frequency
    rows = []
    for k in range(200):
        vals = np.where(rng.random(30) < freq, 1, -1)
        rows.append((f'img/X/img_{k:08d}.jpg', vals.tolist(),
                     'train' if k < 150 else 'val'))
    files = _write_lists(tmp_path, attrs, rows)
    out = convert_deepfashion(*files, str(tmp_path / 'out'))
    classes = _load(out['train'])['metainfo']['classes']
    counts = np.array([r[1] for r in rows[:150]]).__eq__(1).sum(0)
    expected = np.sort(np.argsort(-counts, kind='stable')[:26])
    assert classes == [attrs[i] for i in expected]
    assert len(classes) == 26


def test_attribute_subset_by_name_and_index(tmp_path):
    files = _write_lists(tmp_path)
    out = convert_deepfashion(
        *files,
        str(tmp_path / 'out'),
        attributes=['floral', 4, 'abstract  print'],
        splits=('train', ))
    train = _load(out['train'])
    assert train['metainfo']['classes'] == ['floral', 'knit', 'abstract print']
    assert [d['gt_label'] for d in train['data_list']] == [[0], [0], [],
                                                           [0, 1, 2]]
    with pytest.raises(ValueError, match="'attributes' has value 'silk'"):
        convert_deepfashion(*files, str(tmp_path / 'o2'), attributes=['silk'])


def test_max_per_split_is_seeded_subset_in_order(tmp_path):
    files = _write_lists(tmp_path)
    kw = dict(splits=('train', 'val'), max_per_split=dict(train=3, val=1))
    a = _load(convert_deepfashion(*files, str(tmp_path / 'a'), **kw)['train'])
    b = _load(convert_deepfashion(*files, str(tmp_path / 'b'), **kw)['train'])
    names = [r[0] for r in ROWS[:4]]
    paths = [d['img_path'] for d in a['data_list']]
    assert len(paths) == 3 and paths == sorted(paths, key=names.index)
    assert a == b
    val = _load(str(tmp_path / 'a' / 'val.json'))
    assert len(val['data_list']) == 1


@pytest.mark.parametrize('mutate, match', [
    (lambda r: r[:2] + [(r[2][0], r[2][1][:5], r[2][2])] + r[3:],
     r"row 5 \(img/Denim_Jacket/img_00000001.jpg\) field 'attribute_labels'"
     r' has 5 values; expected 6'),
    (lambda r: r[:1] + [(r[1][0], [2] + r[1][1][1:], r[1][2])] + r[2:],
     r"row 4 \(img/Floral_Dress/img_00000002.jpg\) field 'attribute_labels'"
     r' has value 2'),
])
def test_bad_rows_are_named(tmp_path, mutate, match):
    files = _write_lists(tmp_path, rows=mutate(list(ROWS)))
    with pytest.raises(ValueError, match=match) as err:
        convert_deepfashion(*files, str(tmp_path / 'out'))
    assert 'list_attr_img.txt' in str(err.value)


def test_count_mismatch(tmp_path):
    files = _write_lists(tmp_path, count_img=9)
    with pytest.raises(
            ValueError,
            match=r"list_attr_img.txt: field 'count' "
            r'has value 9 but the file has 7'):
        convert_deepfashion(*files, str(tmp_path / 'out'))


def test_cli_and_dataset(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'df2json',
        osp.join(
            osp.dirname(__file__), '..', 'tools', 'dataset_converters',
            'deepfashion_to_json.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    files = _write_lists(tmp_path)
    out = tmp_path / 'annotations'
    cli.main([
        *files,
        str(out), '--splits', 'train', 'test', '--max-train', '2',
        '--attributes', 'denim', '4'
    ])
    test = _load(str(out / 'test.json'))
    assert test['metainfo']['classes'] == ['denim', 'knit']
    assert test['data_list'] == [
        dict(img_path='img/Denim_Jacket/img_00000002.jpg', gt_label=[0])
    ]
    assert len(_load(str(out / 'train.json'))['data_list']) == 2
    # The dataset class validates paths under data_prefix.
    for name, _, _ in ROWS:
        p = tmp_path / 'Img' / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b'jpg')
    ds = DeepFashionMultiLabel(
        data_root=str(tmp_path),
        ann_file='annotations/test.json',
        data_prefix='Img')
    assert ds.get_cat_ids(0) == [0]
    np.testing.assert_array_equal(ds.class_counts, [1, 0])
    (tmp_path / 'Img' / ROWS[6][0]).unlink()
    with pytest.raises(FileNotFoundError, match="test.json.*'img_path'"):
        DeepFashionMultiLabel(
            data_root=str(tmp_path),
            ann_file='annotations/test.json',
            data_prefix='Img')
