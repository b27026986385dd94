import gzip
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmbmix.datasets import MosaicMultiLabel
from mmbmix.datasets import mosaic as mosaic_module
from mmbmix.datasets.mosaic import (CLASS_NAMES, FASHION_MNIST_ROOT, _resize,
                                    load_source, mosaic_class_counts)

CONFIG_DIR = osp.join(
    osp.dirname(__file__), '..', 'configs', '_base_', 'datasets')
SMALL = dict(num_images=300, seed=3)


def _labels(ds):
    return [list(ds.get_data_info(i)['gt_label']) for i in range(len(ds))]


def _pixels(ds):
    return [
        cv2.imread(ds.get_data_info(i)['img_path'], cv2.IMREAD_UNCHANGED)
        for i in range(len(ds))
    ]


def _cells(image, grid=2, tile=16):
    """The grey cells of an RGB canvas, (grid*grid, tile, tile)."""
    grey = image[..., 0]
    return grey.reshape(grid, tile, grid, tile).transpose(0, 2, 1, 3) \
        .reshape(grid * grid, tile, tile)


def test_deterministic_across_builds(tmp_path):
    a = MosaicMultiLabel(data_root=str(tmp_path / 'a'), **SMALL)
    b = MosaicMultiLabel(data_root=str(tmp_path / 'b'), **SMALL)
    assert _labels(a) == _labels(b)
    for x, y in zip(_pixels(a), _pixels(b)):
        assert x.tobytes() == y.tobytes()
    ann_a = open(osp.join(a.folder, 'annotation.json'), 'rb').read()
    assert ann_a == open(osp.join(b.folder, 'annotation.json'), 'rb').read()
    # ...and a different seed gives a different set.
    c = MosaicMultiLabel(data_root=str(tmp_path / 'a'), num_images=300, seed=4)
    assert c.folder != a.folder and _labels(c) != _labels(a)


def test_second_build_reuses_files(tmp_path, monkeypatch):
    a = MosaicMultiLabel(data_root=str(tmp_path), **SMALL)
    ann = osp.join(a.folder, 'annotation.json')
    img = a.get_data_info(0)['img_path']
    mtimes = (os.stat(ann).st_mtime_ns, os.stat(img).st_mtime_ns)

    def fail(*args, **kwargs):
        raise AssertionError('regenerated')

    monkeypatch.setattr(MosaicMultiLabel, 'generate', staticmethod(fail))
    b = MosaicMultiLabel(data_root=str(tmp_path), **SMALL)
    assert b.folder == a.folder and _labels(b) == _labels(a)
    assert (os.stat(ann).st_mtime_ns, os.stat(img).st_mtime_ns) == mtimes
    assert os.listdir(tmp_path) == [osp.basename(a.folder)]


def test_crash_mid_generation_leaves_nothing_reusable(tmp_path, monkeypatch):
    real = cv2.imwrite
    calls = []

    def crash(path, image):
        calls.append(path)
        if len(calls) > 10:
            raise KeyboardInterrupt
        return real(path, image)

    monkeypatch.setattr(mosaic_module.cv2, 'imwrite', crash)
    with pytest.raises(KeyboardInterrupt):
        MosaicMultiLabel(data_root=str(tmp_path), **SMALL)
    assert os.listdir(tmp_path) == []  # no half set, no temp folder
    monkeypatch.setattr(mosaic_module.cv2, 'imwrite', real)
    ds = MosaicMultiLabel(data_root=str(tmp_path), **SMALL)
    assert len(ds) == 300 and all(
        osp.exists(ds.get_data_info(i)['img_path']) for i in range(300))


def test_concurrent_generation_keeps_one_copy(tmp_path, monkeypatch):
    """Two ranks generating at once: the second rename loses, quietly."""
    real = MosaicMultiLabel.generate
    name = MosaicMultiLabel.folder_name(
        MosaicMultiLabel.generation_params(**SMALL))

    def racing(out_dir, params, source_root=None):
        real(str(tmp_path / 'other'), params, source_root)
        os.rename(tmp_path / 'other', tmp_path / name)  # the other rank wins
        real(out_dir, params, source_root)

    monkeypatch.setattr(MosaicMultiLabel, 'generate', staticmethod(racing))
    ds = MosaicMultiLabel(data_root=str(tmp_path), **SMALL)
    assert len(ds) == 300 and os.listdir(tmp_path) == [name]


def test_tiles_match_labels_and_come_from_disjoint_sources(tmp_path):
    """Every tile of a train mosaic is a resized *train* source image of one
    of the image's classes, never a test one, and the other way round."""
    pools = {}
    for split in ('train', 'test'):
        images, labels = load_source('digits', split)
        tiles = _resize(images, 16)
        pools[split] = {t.tobytes(): int(c) for t, c in zip(tiles, labels)}
    assert not set(pools['train']) & set(pools['test'])
    for split, other in (('train', 'test'), ('test', 'train')):
        ds = MosaicMultiLabel(
            data_root=str(tmp_path), split=split, num_images=200)
        for labels, image in zip(_labels(ds), _pixels(ds)):
            assert image.shape == (32, 32, 3)
            assert 1 <= len(labels) <= 4 and len(set(labels)) == len(labels)
            tiles = [c for c in _cells(image) if c.any()]
            assert len(tiles) == len(labels)
            keys = [t.tobytes() for t in tiles]
            assert all(k in pools[split] and k not in pools[other]
                       for k in keys)
            assert sorted(pools[split][k] for k in keys) == sorted(labels)


@pytest.mark.parametrize('ratio', [50, 10])
def test_realized_imbalance_ratio(tmp_path, ratio):
    ds = MosaicMultiLabel(data_root=str(tmp_path), imbalance_ratio=ratio)
    counts = np.bincount(np.concatenate(_labels(ds)), minlength=10)
    np.testing.assert_array_equal(counts, ds.class_counts)
    assert ds.class_imbalance_ratio == pytest.approx(ratio, rel=0.2)
    assert ds.class_imbalance_ratio == counts.max() / counts.min()
    assert np.all(np.diff(counts) <= 0)  # long tail: class 0 the head
    lengths = np.array([len(g) for g in _labels(ds)])
    assert lengths.min() == 1 and lengths.max() == 4
    assert ds.pos_neg_ratio == pytest.approx(
        (10 * len(ds) - counts.sum()) / counts.sum())
    np.testing.assert_array_equal(
        MosaicMultiLabel.train_class_counts(imbalance_ratio=ratio), counts)
    assert ds.metainfo['generation']['imbalance_ratio'] == ratio


def test_class_order_gives_each_class_its_rank_count(tmp_path):
    names = list(CLASS_NAMES['digits'])
    order = names[::-1]  # digit_9 the most frequent
    ds = MosaicMultiLabel(
        data_root=str(tmp_path), imbalance_ratio=10, class_order=order)
    ranked = mosaic_class_counts(2000, 10, 10, 4)
    counts = np.bincount(np.concatenate(_labels(ds)), minlength=10)
    np.testing.assert_array_equal(counts, ranked[::-1])
    np.testing.assert_array_equal(
        MosaicMultiLabel.train_class_counts(
            imbalance_ratio=10, class_order=order), ranked[::-1])
    assert ds.metainfo['generation']['class_order'] == order
    # the index order is the default (same folder); a balanced split
    # ignores the order
    same = MosaicMultiLabel.generation_params(
        imbalance_ratio=10, class_order=names)
    assert same == MosaicMultiLabel.generation_params(imbalance_ratio=10)
    assert 'class_order' not in MosaicMultiLabel.generation_params(
        split='test', class_order=order)
    with pytest.raises(ValueError, match="'class_order' has value"):
        MosaicMultiLabel.generation_params(class_order=names[:9])


def test_test_split_balanced_by_default_or_same_as_train(tmp_path):
    test = MosaicMultiLabel(data_root=str(tmp_path), split='test')
    assert len(test) == 500 and test.class_imbalance_ratio == 1.0
    same = MosaicMultiLabel(
        data_root=str(tmp_path), split='test', test_imbalance_ratio=None)
    assert same.class_imbalance_ratio == pytest.approx(50, rel=0.2)


def test_class_counts_function():
    counts = mosaic_class_counts(2000, 10, 50, 4)
    assert counts.tolist() == [1786, 1156, 749, 485, 314, 203, 132, 85, 55, 36]
    assert mosaic_class_counts(100, 10, 1, 1).tolist() == [10] * 10


def test_mosaics_load_through_config_pipelines(tmp_path):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'mosaic_digits.py'))
    kinds = [t['type'] for t in cfg.train_pipeline]
    assert 'RandAugment' in kinds and kinds[-1] == 'PackInputs'
    args = dict(cfg.train_dataloader.dataset.dataset)  # in LabelNoiseDataset
    args.update(data_root=str(tmp_path), num_images=64)
    ds = MosaicMultiLabel(**{k: v for k, v in args.items() if k != 'type'})
    test_pipeline = Compose(cfg.test_pipeline)
    changed = 0
    for i in range(64):
        out = ds[i]
        assert tuple(out['inputs'].shape) == (3, 32, 32)
        assert out['data_samples'].gt_label.tolist() == ds.get_cat_ids(i)
        plain = test_pipeline(ds.get_data_info(i))['inputs']
        changed += not bool((plain == out['inputs']).all())
    assert changed > 32  # RandAugment and the flip act


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="'split' has value 'val'"):
        MosaicMultiLabel(data_root=str(tmp_path), split='val')
    with pytest.raises(ValueError, match="'max_tiles' has value 5"):
        MosaicMultiLabel(data_root=str(tmp_path), max_tiles=5)
    with pytest.raises(ValueError, match="'source' has value 'mnist'"):
        MosaicMultiLabel(data_root=str(tmp_path), source='mnist')
    with pytest.raises(ValueError, match="'ann_file'"):
        MosaicMultiLabel(data_root=str(tmp_path), ann_file='x.json')


def test_fashion_mnist_missing_says_how_to_install(tmp_path):
    with pytest.raises(
            FileNotFoundError, match='apt-get install dataset-fashion-mnist'):
        MosaicMultiLabel(
            data_root=str(tmp_path / 'd'),
            source='fashion_mnist',
            source_root=str(tmp_path / 'empty'))
    assert not osp.exists(tmp_path / 'd') or os.listdir(tmp_path / 'd') == []


def _write_idx(path, array):
    header = (0x0800 + array.ndim).to_bytes(4, 'big') + b''.join(
        int(s).to_bytes(4, 'big') for s in array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_idx_reader(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / 'fm'
    root.mkdir()
    for split, n in (('train', 60), ('t10k', 30)):
        images = rng.integers(1, 256, (n, 28, 28))
        labels = np.arange(n) % 10
        _write_idx(root / f'{split}-images-idx3-ubyte.gz', images)
        _write_idx(root / f'{split}-labels-idx1-ubyte.gz', labels)
    images, labels = load_source('fashion_mnist', 'test', str(root))
    assert images.shape == (30, 28, 28) and labels.tolist()[:11] == [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0
    ]
    ds = MosaicMultiLabel(
        data_root=str(tmp_path / 'd'),
        source='fashion_mnist',
        source_root=str(root),
        num_images=50,
        imbalance_ratio=5)
    assert ds.metainfo['classes'][0] == 'tshirt_top' and len(ds) == 50
    assert ds.class_imbalance_ratio == pytest.approx(5, rel=0.2)
    # A file that is not IDX is named.
    (root / 't10k-labels-idx1-ubyte.gz').write_bytes(gzip.compress(b'x' * 9))
    with pytest.raises(ValueError, match="t10k-labels.*'magic'"):
        load_source('fashion_mnist', 'test', str(root))


@pytest.mark.skipif(
    not osp.exists(osp.join(FASHION_MNIST_ROOT, 'train-images-idx3-ubyte.gz')),
    reason='Debian package dataset-fashion-mnist not installed')
def test_fashion_mnist_from_debian_package(tmp_path):
    images, labels = load_source('fashion_mnist', 'train')
    assert images.shape == (60000, 28, 28)
    assert np.bincount(labels).tolist() == [6000] * 10
    ds = MosaicMultiLabel(
        data_root=str(tmp_path), source='fashion_mnist', num_images=300)
    assert ds.class_imbalance_ratio == pytest.approx(50, rel=0.2)
    assert json.load(open(osp.join(
        ds.folder,
        'annotation.json')))['metainfo']['classes'][-1] == 'ankle_boot'


def test_free_layout_places_objects_off_the_grid(tmp_path):
    """layout='free': same labels as the grid, objects at random positions
    and scales (not confined to cells), deterministic, grid folders
    unchanged."""
    from mmbmix.datasets.mosaic import render_free
    kw = dict(source='digits', tile_size=16, num_images=60, seed=3)
    grid = MosaicMultiLabel(data_root=str(tmp_path), **kw)
    free = MosaicMultiLabel(data_root=str(tmp_path), layout='free', **kw)
    assert free.folder != grid.folder
    assert 'layout' not in grid.params and free.params['layout'] == 'free'
    assert [free.get_cat_ids(i) for i in range(60)] == \
        [grid.get_cat_ids(i) for i in range(60)]
    again = MosaicMultiLabel.generation_params(layout='free', **kw)
    assert MosaicMultiLabel.folder_name(again) == osp.basename(free.folder)
    # a single object per image: its bounding box is not a grid cell
    rng = np.random.default_rng(0)
    labels = np.zeros((200, 3), dtype=bool)
    labels[np.arange(200), rng.integers(0, 3, 200)] = True
    src = np.full((30, 8, 8), 255, dtype=np.uint8)
    canvas = render_free(labels, src, np.arange(30) % 3, 32, rng)
    ys, xs = zip(*[np.nonzero(c) for c in canvas])
    tops = np.array([y.min() for y in ys])
    sides = np.array([y.max() - y.min() + 1 for y in ys])
    assert len(set(tops.tolist())) > 5 and len(set(sides.tolist())) > 3
    assert sides.min() >= round(0.35 * 32) and sides.max() <= round(0.6 * 32)
    with pytest.raises(ValueError, match="'layout' has value 'spiral'"):
        MosaicMultiLabel.generation_params(layout='spiral')


def test_scatter_layout_objects_in_distinct_cells_never_overlap():
    """layout='scatter': every object inside its own cell, at a scale in
    scale_range of the cell, at varying positions; no two objects of an
    image share a pixel."""
    from mmbmix.datasets.mosaic import render_scatter
    rng = np.random.default_rng(1)
    labels = np.zeros((300, 4), dtype=bool)
    for i in range(300):
        labels[i, rng.choice(4, rng.integers(1, 5), replace=False)] = True
    src = np.full((40, 8, 8), 255, dtype=np.uint8)
    canvas = render_scatter(labels, src, np.arange(40) % 4, 2, 20, rng)
    assert canvas.shape == (300, 40, 40)
    cells = canvas.reshape(300, 2, 20, 2, 20).transpose(0, 1, 3, 2, 4)
    filled = cells.reshape(300, 4, 20, 20) > 0
    # one object per labelled class, each in a cell of its own
    np.testing.assert_array_equal(filled.any((2, 3)).sum(1), labels.sum(1))
    sides = []
    for obj in filled.reshape(-1, 20, 20):
        if obj.any():
            ys, xs = np.nonzero(obj)
            side = ys.max() - ys.min() + 1
            assert side == xs.max() - xs.min() + 1 == np.sqrt(obj.sum())
            sides.append(side)
    assert min(sides) >= 12 and max(sides) == 20 and len(set(sides)) > 5
    assert MosaicMultiLabel.generation_params(
        layout='scatter')['layout'] == 'scatter'
