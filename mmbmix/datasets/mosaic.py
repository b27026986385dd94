"""Mosaic multi-label benchmark built from single-label real images.

A small, download-free stand-in for VOC/COCO: each image is a ``grid x grid``
canvas whose cells hold 1 to ``max_tiles`` tiles cut from real single-label
images (scikit-learn's handwritten digits, or Fashion-MNIST from the Debian
package ``dataset-fashion-mnist``); its labels are the classes of its tiles.
Class frequencies are long-tailed with a set class-imbalance ratio (BalanceMix
(Song et al., AAAI 2024), footnote 1), so the many/medium/few-shot protocol can
be run on a laptop.

Design decisions:

- Target positive counts are geometric: ``c_k = c_0 * ratio ** (-k / (K-1))``
  (class 0 the most frequent), with ``c_0`` chosen so that an image holds
  ``(1 + max_tiles) / 2`` labels on average. The labels are then laid out
  exactly (Gale-Ryser greedy), so the realized ratio equals the target up to
  rounding: the counts are a pure function of the parameters, see
  :func:`mosaic_class_counts`. ``class_order`` says which class gets which
  count (index order by default).
- The test split is **balanced** by default (``test_imbalance_ratio=1``), as
  in long-tailed benchmarks such as CIFAR-LT, so that every class has enough
  test positives for a stable AP; pass ``test_imbalance_ratio=None`` to give
  it the training distribution.
- Train and test tiles come from disjoint source images: the official
  train/test files of Fashion-MNIST, and a fixed stratified 70/30 split of the
  1,797 digits (independent of ``seed``).
- Everything is generated once, deterministically from the parameters, into
  ``data_root/<source>-<split>-<hash>/`` (PNG images and an annotation file in
  the :class:`MultiLabelDataset` format), written to a temporary folder and
  renamed into place, so that an interrupted generation is never reused.
"""
import gzip
import hashlib
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Optional, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmpretrain.datasets import MultiLabelDataset
from mmpretrain.registry import DATASETS

from .checks import validate_and_report

SOURCES = ('digits', 'fashion_mnist')
LAYOUTS = ('grid', 'free', 'scatter')
SPLITS = ('train', 'test')
FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist'
FASHION_MNIST_FILES = dict(
    train=('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    test=('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'))
CLASS_NAMES = dict(
    digits=tuple(f'digit_{i}' for i in range(10)),
    fashion_mnist=('tshirt_top', 'trouser', 'pullover', 'dress', 'coat',
                   'sandal', 'shirt', 'sneaker', 'bag', 'ankle_boot'))
DEFAULT_NUM_IMAGES = dict(train=2000, test=500)
ANN_NAME = 'annotation.json'
GENERATOR_VERSION = 1
# Seed of the train/test partition of the digits: fixed, so that mosaics
# built with different seeds still draw train and test tiles from disjoint
# source images.
DIGITS_SPLIT_SEED = 2024
DIGITS_TEST_FRACTION = 0.3


def mosaic_class_counts(num_images: int,
                        num_classes: int = 10,
                        imbalance_ratio: float = 50.,
                        max_tiles: int = 4) -> np.ndarray:
    """Positive labels per class of a mosaic split (no RNG, no files).

    ``c_k = round(c_0 * imbalance_ratio ** (-k / (K - 1)))``, at least 1, with
    ``c_0 = min(num_images, num_images * (1 + max_tiles) / 2 / sum_k w_k)``;
    the head count is then nudged so that the total fits between
    ``num_images`` (one label each) and ``num_images * max_tiles``.
    These are exactly the counts of the generated split.

    Args:
        num_images (int): M, the number of mosaic images.
        num_classes (int): K. Defaults to 10.
        imbalance_ratio (float): most over least frequent class positives.
            Defaults to 50.
        max_tiles (int): at most this many labels per image. Defaults to 4.

    Returns:
        np.ndarray: int64 counts of shape (K,), non-increasing.
    """
    exponent = np.arange(num_classes) / max(num_classes - 1, 1)
    weights = float(imbalance_ratio)**(-exponent)
    head = min(num_images, num_images * (1 + max_tiles) / 2 / weights.sum())
    counts = np.maximum(np.rint(head * weights), 1).astype(np.int64)
    total = int(counts.sum())
    counts[0] += np.clip(total, num_images, num_images * max_tiles) - total
    if not 1 <= counts[0] <= num_images:
        raise ValueError(
            f'mosaic: field \'num_images\' has value {num_images}, too few '
            f'for {num_classes} classes with imbalance_ratio='
            f'{imbalance_ratio} and max_tiles={max_tiles}')
    return counts


def ordered_class_counts(counts: np.ndarray, classes: Sequence[str],
                         class_order: Optional[Sequence[str]]) -> np.ndarray:
    """Counts by class index from counts by rank: ``class_order[r]`` (a
    class name) gets ``counts[r]``; None keeps the index order."""
    if class_order is None:
        return counts
    out = np.empty_like(counts)
    out[[classes.index(name) for name in class_order]] = counts
    return out


def _tiles_per_image(total: int, num_images: int, max_tiles: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Tiles per image, uniform on 1..max_tiles then adjusted to ``total``."""
    n = rng.integers(1, max_tiles + 1, num_images)
    diff = total - int(n.sum())
    while diff:
        step = 1 if diff > 0 else -1
        eligible = np.flatnonzero(n < max_tiles if step > 0 else n > 1)
        pick = rng.choice(
            eligible, min(abs(diff), eligible.size), replace=False)
        n[pick] += step
        diff -= step * pick.size
    return n


def _assign_labels(counts: np.ndarray,
                   tiles: np.ndarray,
                   rng: np.random.Generator,
                   rounds: int = 200) -> np.ndarray:
    """Random ``(M, K)`` bool matrix with row sums ``tiles`` (labels per
    image) and column sums ``counts`` (positives per class).

    Ryser's greedy builds one such matrix (each class, the most frequent
    first, goes to the images with the most free cells); ``rounds`` rounds of
    random checkerboard swaps, which keep both sums, then decorrelate it
    (without them the head class would sit in every multi-tile image).
    """
    free = tiles.copy()
    labels = np.zeros((tiles.size, counts.size), dtype=bool)
    for k in np.argsort(-counts, kind='stable'):  # K iterations
        order = np.lexsort((rng.random(free.size), -free))
        chosen = order[:counts[k]]
        if free[chosen].min() <= 0:
            raise RuntimeError('mosaic: no label layout has these class '
                               f'counts {counts.tolist()}')
        labels[chosen, k] = True
        free[chosen] -= 1
    num = tiles.size - tiles.size % 2
    for _ in range(rounds):
        # Pair the images at random; image i gives a random label a to j and
        # takes a random label b of j, where neither has the other's label.
        i, j = rng.permutation(tiles.size)[:num].reshape(2, -1)
        a = np.argmax(rng.random((i.size, counts.size)) * labels[i], axis=1)
        b = np.argmax(rng.random((j.size, counts.size)) * labels[j], axis=1)
        ok = (a != b) & ~labels[j, a] & ~labels[i, b]
        i, j, a, b = i[ok], j[ok], a[ok], b[ok]
        labels[i, a] = labels[j, b] = False
        labels[i, b] = labels[j, a] = True
    return labels


def _read_idx(path: str, ndim: int) -> np.ndarray:
    """Read an IDX file (optionally gzipped) of unsigned bytes."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    magic = int.from_bytes(data[:4], 'big')
    if magic != 0x0800 + ndim:
        raise ValueError(f'{path}: field \'magic\' has value {magic:#x}; '
                         f'not an IDX file of {ndim}-D unsigned bytes')
    shape = np.frombuffer(data, '>i4', ndim, offset=4).astype(np.int64)
    array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if array.size != shape.prod():
        raise ValueError(f'{path}: field \'size\' has value {array.size}; '
                         f'the header says {shape.tolist()}')
    return array.reshape(shape)


def _find_idx(root: str, name: str) -> str:
    for path in (osp.join(root, name + '.gz'), osp.join(root, name)):
        if osp.exists(path):
            return path
    raise FileNotFoundError(
        f'{osp.join(root, name)}(.gz) not found: Fashion-MNIST is not '
        'installed; run `apt-get install dataset-fashion-mnist` (Debian) or '
        'pass source_root=<folder with the IDX files>')


def load_source(source: str, split: str, source_root: Optional[str] = None):
    """Single-label source images of one split.

    Args:
        source (str): ``'digits'`` or ``'fashion_mnist'``.
        split (str): ``'train'`` or ``'test'``; the two never share an image.
        source_root (str, optional): folder of the Fashion-MNIST IDX files.
            Defaults to ``/usr/share/datasets/fashion-mnist``.

    Returns:
        tuple: ``(images, labels)``: uint8 ``(N, h, w)`` with 255 for full
        ink, and int64 ``(N,)``.
    """
    if source == 'digits':
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        digits = load_digits()
        images = np.rint(digits.images * (255 / 16)).astype(np.uint8)
        labels = digits.target.astype(np.int64)
        idx_train, idx_test = train_test_split(
            np.arange(labels.size),
            test_size=DIGITS_TEST_FRACTION,
            stratify=labels,
            random_state=DIGITS_SPLIT_SEED)
        idx = np.sort(idx_train if split == 'train' else idx_test)
        return images[idx], labels[idx]
    root = source_root or FASHION_MNIST_ROOT
    img_name, label_name = FASHION_MNIST_FILES[split]
    images = _read_idx(_find_idx(root, img_name), 3)
    labels = _read_idx(_find_idx(root, label_name), 1).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f'{root}: field \'count\' has value '
                         f'{images.shape[0]} images but {labels.shape[0]} '
                         'labels')
    return images, labels


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a uint8 ``(P, h, w)`` stack to ``(P, size, size)``
    (antialiased when shrinking)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float()[:, None]
    shrink = size < images.shape[-1]
    x = F.interpolate(
        x,
        size=(size, size),
        mode='bilinear',
        align_corners=False,
        antialias=shrink)
    return x[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()


def _grid_cells(labels: np.ndarray, grid: int, rng: np.random.Generator):
    """``(img, cell)`` of each object (``np.nonzero(labels)`` order): a
    random distinct cell of its image's ``grid x grid`` canvas."""
    num_images = labels.shape[0]
    img = np.nonzero(labels)[0]  # one row per object, grouped by image
    first = np.searchsorted(img, np.arange(num_images))
    rank = np.arange(img.size) - first[img]
    cells = np.argsort(rng.random((num_images, grid * grid)), axis=1)
    return img, cells[img, rank]


def _pick_sources(labels: np.ndarray, src_images: np.ndarray,
                  src_labels: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """A random source image of each object's class (``np.nonzero(labels)``
    order)."""
    cls = np.nonzero(labels)[1]
    pool = np.argsort(src_labels, kind='stable')
    size = np.bincount(src_labels, minlength=labels.shape[1])
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    pick = np.floor(rng.random(cls.size) * size[cls]).astype(np.int64)
    return src_images[pool[start[cls] + pick]]


def render_mosaics(labels: np.ndarray, src_images: np.ndarray,
                   src_labels: np.ndarray, grid: int, tile_size: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Draw the tiles of each image and paste them on its canvas.

    Args:
        labels (np.ndarray): ``(M, K)`` bool, the classes of each image.
        src_images (np.ndarray): uint8 ``(N, h, w)`` source images.
        src_labels (np.ndarray): int64 ``(N,)`` their classes.
        grid (int): cells per side.
        tile_size (int): side of a tile in pixels.
        rng (np.random.Generator): the generator.

    Returns:
        np.ndarray: uint8 ``(M, grid * tile_size, grid * tile_size)``.
    """
    num_images = labels.shape[0]
    img, cell = _grid_cells(labels, grid, rng)
    tiles = _resize(
        _pick_sources(labels, src_images, src_labels, rng), tile_size)
    canvas = np.zeros((num_images, grid, tile_size, grid, tile_size),
                      dtype=np.uint8)
    canvas[img, cell // grid, :, cell % grid, :] = tiles
    side = grid * tile_size
    return canvas.reshape(num_images, side, side)


def render_free(
    labels: np.ndarray,
    src_images: np.ndarray,
    src_labels: np.ndarray,
    side: int,
    rng: np.random.Generator,
    scale_range=(0.35, 0.6)) -> np.ndarray:
    """Paste each image's objects at random positions and scales.

    Unlike the grid, objects of two images do not share fixed cells, so
    mixing two canvases overlays them partially, as in photographs. Each
    object's side is ``U(scale_range) * side``; overlapping objects are
    blended by the pixel-wise maximum (bright objects on black).

    Args:
        labels (np.ndarray): ``(M, K)`` bool, the classes of each image.
        src_images (np.ndarray): uint8 ``(N, h, w)`` source images.
        src_labels (np.ndarray): int64 ``(N,)`` their classes.
        side (int): side of the canvas in pixels.
        rng (np.random.Generator): the generator.
        scale_range (tuple[float, float]): object side over canvas side.
            Defaults to (0.35, 0.6).

    Returns:
        np.ndarray: uint8 ``(M, side, side)``.
    """
    num_images = labels.shape[0]
    img = np.nonzero(labels)[0]
    src = _pick_sources(labels, src_images, src_labels, rng)
    lo, hi = scale_range
    sides = np.maximum(1, np.round(rng.uniform(lo, hi, img.size) *
                                   side)).astype(np.int64)
    x0 = np.floor(rng.random(img.size) * (side - sides + 1)).astype(np.int64)
    y0 = np.floor(rng.random(img.size) * (side - sides + 1)).astype(np.int64)
    canvas = np.zeros((num_images, side, side), dtype=np.uint8)
    for s in np.unique(sides):  # generation only, once per split
        which = np.flatnonzero(sides == s)
        tiles = _resize(src[which], int(s))
        for t, j in zip(tiles, which):
            box = canvas[img[j], y0[j]:y0[j] + s, x0[j]:x0[j] + s]
            np.maximum(box, t, out=box)
    return canvas


def render_scatter(
    labels: np.ndarray,
    src_images: np.ndarray,
    src_labels: np.ndarray,
    grid: int,
    tile_size: int,
    rng: np.random.Generator,
    scale_range=(0.6, 1.0)) -> np.ndarray:
    """Non-overlapping random placement: each object takes a distinct
    random cell of the ``grid x grid`` canvas, as on the grid, at a random
    scale ``U(scale_range) * tile_size`` and a random position inside its
    cell. Objects of one image never overlap; mixing two canvases overlays
    them partially (between the grid and the free layout).

    Args:
        labels (np.ndarray): ``(M, K)`` bool, the classes of each image.
        src_images (np.ndarray): uint8 ``(N, h, w)`` source images.
        src_labels (np.ndarray): int64 ``(N,)`` their classes.
        grid (int): cells per side.
        tile_size (int): side of a cell in pixels.
        rng (np.random.Generator): the generator.
        scale_range (tuple[float, float]): object side over cell side.
            Defaults to (0.6, 1.0).

    Returns:
        np.ndarray: uint8 ``(M, grid * tile_size, grid * tile_size)``.
    """
    num_images = labels.shape[0]
    img, cell = _grid_cells(labels, grid, rng)
    src = _pick_sources(labels, src_images, src_labels, rng)
    lo, hi = scale_range
    sides = np.clip(
        np.round(rng.uniform(lo, hi, img.size) * tile_size), 1,
        tile_size).astype(np.int64)
    dx = np.floor(rng.random(img.size) * (tile_size - sides + 1))
    dy = np.floor(rng.random(img.size) * (tile_size - sides + 1))
    x0 = (cell % grid) * tile_size + dx.astype(np.int64)
    y0 = (cell // grid) * tile_size + dy.astype(np.int64)
    side = grid * tile_size
    canvas = np.zeros((num_images, side, side), dtype=np.uint8)
    for s in np.unique(sides):  # generation only, once per split
        which = np.flatnonzero(sides == s)
        tiles = _resize(src[which], int(s))
        for t, j in zip(tiles, which):
            canvas[img[j], y0[j]:y0[j] + s, x0[j]:x0[j] + s] = t
    return canvas


@DATASETS.register_module()
class MosaicMultiLabel(MultiLabelDataset):
    """Long-tailed multi-label mosaics of real single-label images.

    Generated on first use under ``data_root`` and reused afterwards; see the
    module docstring for the design. The class-imbalance and
    positive-negative ratios (BalanceMix, footnote 1) are logged and kept as
    :attr:`class_imbalance_ratio` and :attr:`pos_neg_ratio`; the positives
    per class of this split as :attr:`class_counts`. Those of the train
    split, which define the shot groups, come from
    :meth:`train_class_counts` without building anything.

    Args:
        data_root (str): folder of the generated splits.
            Defaults to ``'data/mosaic_digits'``.
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        source (str): ``'digits'`` (scikit-learn, 8x8) or
            ``'fashion_mnist'`` (28x28). Defaults to ``'digits'``.
        num_images (int, optional): images of the split. Defaults to 2000
            for train and 500 for test.
        imbalance_ratio (float): target class-imbalance ratio of the train
            split (most / least frequent class positives). Defaults to 50.
        test_imbalance_ratio (float, optional): that of the test split;
            None gives the test split ``imbalance_ratio``. Defaults to 1
            (balanced).
        grid (int): cells per side of the canvas. Defaults to 2.
        tile_size (int): side of a tile in pixels; the canvas side is
            ``grid * tile_size``. Defaults to 16.
        max_tiles (int): most tiles (labels) per image, at most ``grid**2``
            and the number of classes. Defaults to 4.
        layout (str): ``'grid'``: one tile per cell of the grid; ``'free'``:
            objects at random positions and scales on the same canvas,
            overlapping as in photographs (:func:`render_free`);
            ``'scatter'``: one object per random cell at a random scale and
            position inside it, never overlapping (:func:`render_scatter`).
            Defaults to ``'grid'``.
        class_order (Sequence[str], optional): the class names from the most
            to the least frequent in the train split (a permutation of the
            source's classes), e.g. to make the confusable classes the rare
            ones. Defaults to None (class 0 the most frequent).
        seed (int): seed of the generation. Defaults to 0.
        source_root (str, optional): folder of the Fashion-MNIST IDX files.
            Defaults to ``/usr/share/datasets/fashion-mnist``.
        **kwargs: other arguments of :class:`MultiLabelDataset`
            (``pipeline``, ``test_mode``, ``indices``, ``metainfo``...);
            ``ann_file`` and ``data_prefix`` are set by the generator.
    """

    def __init__(self,
                 data_root: str = 'data/mosaic_digits',
                 split: str = 'train',
                 source: str = 'digits',
                 num_images: Optional[int] = None,
                 imbalance_ratio: float = 50.,
                 test_imbalance_ratio: Optional[float] = 1.,
                 grid: int = 2,
                 tile_size: int = 16,
                 max_tiles: int = 4,
                 seed: int = 0,
                 source_root: Optional[str] = None,
                 layout: str = 'grid',
                 class_order: Optional[Sequence[str]] = None,
                 **kwargs):
        for key in ('ann_file', 'data_prefix'):
            if key in kwargs:
                raise ValueError(f'MosaicMultiLabel: field {key!r} has value '
                                 f'{kwargs[key]!r}; it is set by the '
                                 'generator, leave it out')
        self.params = self.generation_params(
            split=split,
            source=source,
            num_images=num_images,
            imbalance_ratio=imbalance_ratio,
            test_imbalance_ratio=test_imbalance_ratio,
            grid=grid,
            tile_size=tile_size,
            max_tiles=max_tiles,
            seed=seed,
            layout=layout,
            class_order=class_order)
        self.split = split
        self.source_root = source_root
        self.folder = self.ensure_generated(data_root, self.params,
                                            source_root)
        super().__init__(
            ann_file=osp.join(self.folder, ANN_NAME),
            data_root='',
            data_prefix=dict(img_path=self.folder),
            **kwargs)

    @staticmethod
    def generation_params(split: str = 'train',
                          source: str = 'digits',
                          num_images: Optional[int] = None,
                          imbalance_ratio: float = 50.,
                          test_imbalance_ratio: Optional[float] = 1.,
                          grid: int = 2,
                          tile_size: int = 16,
                          max_tiles: int = 4,
                          seed: int = 0,
                          layout: str = 'grid',
                          class_order: Optional[Sequence[str]] = None) -> dict:
        """Validate the arguments; return what defines the generated set."""
        if split not in SPLITS:
            raise ValueError(f'MosaicMultiLabel: field \'split\' has value '
                             f'{split!r}; expected one of {SPLITS}')
        if source not in SOURCES:
            raise ValueError(f'MosaicMultiLabel: field \'source\' has value '
                             f'{source!r}; expected one of {SOURCES}')
        if num_images is None:
            num_images = DEFAULT_NUM_IMAGES[split]
        ratio = imbalance_ratio
        if split == 'test' and test_imbalance_ratio is not None:
            ratio = test_imbalance_ratio
        num_classes = len(CLASS_NAMES[source])
        checks = dict(
            num_images=(num_images, num_images >= 1),
            imbalance_ratio=(ratio, ratio >= 1),
            grid=(grid, grid >= 1),
            tile_size=(tile_size, tile_size >= 1),
            max_tiles=(max_tiles,
                       1 <= max_tiles <= min(grid * grid, num_classes)),
            layout=(layout, layout in LAYOUTS))
        for field, (value, ok) in checks.items():
            if not ok:
                raise ValueError(
                    f'MosaicMultiLabel: field {field!r} has value {value!r}; '
                    'see the Args of MosaicMultiLabel for its range')
        params = dict(
            source=source,
            split=split,
            num_images=int(num_images),
            imbalance_ratio=float(ratio),
            grid=int(grid),
            tile_size=int(tile_size),
            max_tiles=int(max_tiles),
            seed=int(seed),
            version=GENERATOR_VERSION)
        if layout != 'grid':  # grid sets keep their folder names
            params['layout'] = layout
        classes = CLASS_NAMES[source]
        if class_order is not None:
            if sorted(class_order) != sorted(classes):
                raise ValueError(
                    f'MosaicMultiLabel: field \'class_order\' has value '
                    f'{class_order!r}; expected a permutation of {classes}')
            # only a split with unequal counts depends on the order
            if tuple(class_order) != classes and ratio != 1:
                params['class_order'] = list(class_order)
        return params

    @classmethod
    def train_class_counts(cls, **kwargs) -> np.ndarray:
        """Positives per class of the train split built with ``kwargs``
        (the same arguments as the constructor; nothing is generated).

        Example:
            >>> MosaicMultiLabel.train_class_counts(num_images=2000)
            array([1786, 1156,  749,  485,  314,  203,  132,   85,   55,   36])
        """
        kwargs = {
            k: v
            for k, v in kwargs.items()
            if k in ('source', 'num_images', 'imbalance_ratio', 'grid',
                     'tile_size', 'max_tiles', 'seed', 'layout', 'class_order')
        }
        return cls.class_counts_of(
            cls.generation_params(split='train', **kwargs))

    @staticmethod
    def class_counts_of(params: dict) -> np.ndarray:
        """Positives per class (by class index) of the split that
        ``params`` (:meth:`generation_params`) define."""
        classes = CLASS_NAMES[params['source']]
        counts = mosaic_class_counts(params['num_images'], len(classes),
                                     params['imbalance_ratio'],
                                     params['max_tiles'])
        return ordered_class_counts(counts, classes, params.get('class_order'))

    @staticmethod
    def folder_name(params: dict) -> str:
        """``<source>-<split>-<hash of the generation parameters>``."""
        digest = hashlib.sha1(json.dumps(
            params, sort_keys=True).encode()).hexdigest()[:12]
        return f"{params['source']}-{params['split']}-{digest}"

    @classmethod
    def ensure_generated(cls,
                         data_root: str,
                         params: dict,
                         source_root: Optional[str] = None) -> str:
        """Generate the split unless a complete copy is already there.

        Returns:
            str: the folder holding ``annotation.json`` and ``images/``.
        """
        folder = osp.join(data_root, cls.folder_name(params))
        if osp.isfile(osp.join(folder, ANN_NAME)):
            return folder
        if osp.exists(folder):  # not ours: a complete set is renamed in
            raise FileExistsError(
                f'{folder}: field \'{ANN_NAME}\' is missing: an incomplete '
                'mosaic folder; delete it to regenerate')
        os.makedirs(data_root, exist_ok=True)
        tmp = tempfile.mkdtemp(
            prefix=f'.{osp.basename(folder)}.tmp-', dir=data_root)
        try:
            cls.generate(tmp, params, source_root)
            try:
                os.rename(tmp, folder)
            except OSError:
                # Another process (rank, worker) renamed its copy first.
                if not osp.isfile(osp.join(folder, ANN_NAME)):
                    raise
            print_log(
                f'MosaicMultiLabel: generated {folder}', logger='current')
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return folder

    @staticmethod
    def generate(out_dir: str,
                 params: dict,
                 source_root: Optional[str] = None) -> None:
        """Write ``images/*.png`` and ``annotation.json`` into ``out_dir``."""
        source, split = params['source'], params['split']
        classes = CLASS_NAMES[source]
        rng = np.random.default_rng(
            [params['seed'],
             SPLITS.index(split),
             SOURCES.index(source)])
        counts = MosaicMultiLabel.class_counts_of(params)
        tiles = _tiles_per_image(
            int(counts.sum()), params['num_images'], params['max_tiles'], rng)
        labels = _assign_labels(counts, tiles, rng)
        src_images, src_labels = load_source(source, split, source_root)
        layout = params.get('layout', 'grid')
        if layout == 'free':
            canvas = render_free(labels, src_images, src_labels,
                                 params['grid'] * params['tile_size'], rng)
        elif layout == 'scatter':
            canvas = render_scatter(labels, src_images, src_labels,
                                    params['grid'], params['tile_size'], rng)
        else:
            canvas = render_mosaics(labels, src_images, src_labels,
                                    params['grid'], params['tile_size'], rng)
        os.makedirs(osp.join(out_dir, 'images'))
        names = [f'images/{i:06d}.png' for i in range(len(canvas))]
        for name, image in zip(names, canvas):
            if not cv2.imwrite(
                    osp.join(out_dir, name),
                    np.repeat(image[..., None], 3, axis=2)):
                raise OSError(f'{osp.join(out_dir, name)}: cv2.imwrite '
                              'failed')
        rows, cols = np.nonzero(labels)
        gt = np.split(cols, np.searchsorted(rows, np.arange(1, len(names))))
        ann = dict(
            metainfo=dict(classes=list(classes), generation=params),
            data_list=[
                dict(img_path=name, gt_label=g.tolist())
                for name, g in zip(names, gt)
            ])
        with open(osp.join(out_dir, ANN_NAME), 'w') as f:
            json.dump(ann, f)

    def load_data_list(self):
        """Load the generated annotation, validate it and report the
        class-imbalance and positive-negative ratios."""
        data_list = super().load_data_list()
        stats = validate_and_report(
            f'MosaicMultiLabel({self.params["source"]}, {self.split})',
            data_list, len(self.metainfo['classes']), self.ann_file)
        self.class_counts = stats['class_counts']
        self.class_imbalance_ratio = stats['class_imbalance_ratio']
        self.pos_neg_ratio = stats['pos_neg_ratio']
        return data_list

    def extra_repr(self) -> Sequence[str]:
        return [
            f'Generated folder: \t{self.folder}',
            f'Generation: \t{self.params}'
        ]
