import numpy as np
import pytest

from mmbmix.datasets.checks import (check_multilabel_data_list,
                                    check_num_classes, label_statistics)


@pytest.fixture
def images(tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / f'{i}.png'
        p.write_bytes(b'x')
        paths.append(str(p))
    return paths


def _data(paths, labels):
    return [dict(img_path=p, gt_label=g) for p, g in zip(paths, labels)]


def test_valid_list_passes(images):
    check_multilabel_data_list(_data(images, [[0, 2], [1], []]), 3, 'a.json')


@pytest.mark.parametrize('labels, value, what', [
    ([[0], [1, 3], [2]], '3', 'out of range'),
    ([[0], [1], [-1, 2]], '-1', 'negative'),
    ([[0, 2, 0], [1], [2]], '0', 'duplicate'),
    ([[0], [1.5], [2]], '1.5', 'integer'),
])
def test_bad_label_names_file_entry_field_value(images, labels, value, what):
    with pytest.raises(ValueError) as err:
        check_multilabel_data_list(_data(images, labels), 3, 'ann/x.json')
    msg = str(err.value)
    bad = next(i for i, g in enumerate(labels) if g != [[0], [1], [2]][i])
    assert 'ann/x.json' in msg
    assert f'data_list[{bad}]' in msg and images[bad] in msg
    assert "'gt_label'" in msg and f'value {value}' in msg and what in msg


def test_first_offending_entry_is_named(images):
    labels = [[0], [5], [7]]
    with pytest.raises(ValueError, match=r'data_list\[1\].*value 5'):
        check_multilabel_data_list(_data(images, labels), 3, 'f.json')


def test_missing_field(images):
    data = _data(images, [[0], [1], [2]])
    del data[2]['gt_label']
    with pytest.raises(
            ValueError,
            match=r"f.json: data_list\[2\].*'gt_label'"
            r'.*value None'):
        check_multilabel_data_list(data, 3, 'f.json')


def test_empty_labels_rejected_when_not_allowed(images):
    data = _data(images, [[0], [], [2]])
    with pytest.raises(ValueError, match=r'data_list\[1\].*value \[\]'):
        check_multilabel_data_list(data, 3, 'f.json', allow_empty=False)


def test_missing_path(images, tmp_path):
    missing = str(tmp_path / 'nope.jpg')
    data = _data([images[0], missing, images[2]], [[0], [1], [2]])
    with pytest.raises(FileNotFoundError) as err:
        check_multilabel_data_list(data, 3, 'f.json')
    msg = str(err.value)
    assert 'f.json' in msg and 'data_list[1]' in msg
    assert "'img_path'" in msg and missing in msg
    # ...and skipped when asked.
    check_multilabel_data_list(data, 3, 'f.json', check_paths=False)


def test_num_classes_mismatch():
    check_num_classes(80, 80, 'cfg.py: model.head.num_classes')
    check_num_classes(80, None, 'cfg.py: model.head.num_classes')
    with pytest.raises(ValueError) as err:
        check_num_classes(80, 20, 'cfg.py: model.head.num_classes')
    msg = str(err.value)
    assert 'cfg.py: model.head.num_classes' in msg
    assert "'num_classes'" in msg and 'value 20' in msg and '80' in msg


def test_label_statistics():
    stats = label_statistics([[0, 1], [0], [0, 2], [0]], 3)
    np.testing.assert_array_equal(stats['class_counts'], [4, 1, 1])
    assert stats['class_imbalance_ratio'] == 4.0
    assert stats['pos_neg_ratio'] == pytest.approx((12 - 6) / 6)
    assert stats['num_positives'] == 6
    assert label_statistics([[0]], 2)['class_imbalance_ratio'] == float('inf')
