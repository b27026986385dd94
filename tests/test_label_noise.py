"""Tests of the label-noise functions and the ``LabelNoiseDataset`` wrapper."""
import json

import numpy as np
import pytest
import torch
from mmpretrain.registry import DATASETS
from scipy.stats import chisquare

import mmbmix  # noqa: F401  (registers the components)
from mmbmix.datasets import LabelNoiseDataset, get_label_matrix
from mmbmix.datasets.label_noise import (flip_noise, mislabel_noise,
                                         single_positive_labels)

CLASSES = [f'c{k}' for k in range(8)]


def random_labels(n, k, p=0.2, seed=0):
    """Random ``(n, k)`` bool labels, every instance with >= 1 positive.

    Noise in the tests uses other seeds: a generator with the same seed would
    replay the stream that drew the labels.
    """
    rng = np.random.default_rng(seed)
    labels = rng.random((n, k)) < p
    labels[np.arange(n), rng.integers(0, k, n)] = True
    return labels


def long_tailed_single_labels(n=30000, k=10, seed=0):
    """One positive per instance, class frequency proportional to 1/(k+1)."""
    rng = np.random.default_rng(seed)
    prob = 1.0 / np.arange(1, k + 1)
    cls = rng.choice(k, size=n, p=prob / prob.sum())
    labels = np.zeros((n, k), dtype=bool)
    labels[np.arange(n), cls] = True
    return labels


def write_ann(path, labels):
    # the images exist (empty files): the wrapper checks the annotations
    for i in range(len(labels)):
        (path.parent / f'img_{i}.png').touch()
    data_list = [
        dict(
            img_path=str(path.parent / f'img_{i}.png'),
            gt_label=np.flatnonzero(row).tolist())
        for i, row in enumerate(labels)
    ]
    path.write_text(
        json.dumps(dict(metainfo=dict(classes=CLASSES), data_list=data_list)))
    return str(path)


def dataset_cfg(ann_file, serialize_data=True):
    return dict(
        type='MultiLabelDataset',
        ann_file=ann_file,
        data_root='',
        pipeline=[dict(type='PackInputs')],
        serialize_data=serialize_data)


@pytest.fixture
def ann_file(tmp_path):
    return write_ann(tmp_path / 'train.json', random_labels(300, 8, seed=1))


# ---------------------------------------------------------------- functions
def test_flip_noise_rate():
    clean = random_labels(2000, 10)  # 20,000 entries
    for tau in (0.1, 0.4):
        noisy = flip_noise(clean, tau, 123)
        flipped = noisy != clean
        assert abs(flipped.mean() - tau) < 0.01
        # class-independent: positives and negatives flip alike
        assert abs(flipped[clean].mean() - tau) < 0.03
        assert abs(flipped[~clean].mean() - tau) < 0.015


def test_mislabel_rate_and_no_label_lost_absent_reading():
    clean = random_labels(8000, 20, p=0.05)  # >= 10,000 positives
    assert clean.sum() >= 10000
    for tau in (0.2, 0.4):
        noisy = mislabel_noise(clean, tau, 123, target='absent')
        moved = clean & ~noisy
        assert abs(moved.sum() / clean.sum() - tau) < 0.01
        # each move turns one clean negative on: positive count per row kept
        np.testing.assert_array_equal(noisy.sum(1), clean.sum(1))
        assert (~clean & noisy).sum() == moved.sum()


def test_mislabel_targets_proportional_to_class_size():
    clean = long_tailed_single_labels()
    tau = 0.4
    noisy = mislabel_noise(clean, tau, 3)
    origin = clean.argmax(1)
    target = noisy.argmax(1)
    moved = origin != target
    assert noisy.sum(1).tolist() == [1] * len(noisy)
    assert abs(moved.mean() - tau) < 0.01
    # expected target counts given the number moved from each class:
    # sum_i m_i * N_j / (N - N_i), j != i (Eq. 11)
    counts = clean.sum(0).astype(float)
    m = np.bincount(origin[moved], minlength=clean.shape[1])
    probs = counts[None, :] / (counts.sum() - counts[:, None])
    np.fill_diagonal(probs, 0.0)
    expected = m @ probs
    observed = np.bincount(target[moved], minlength=clean.shape[1])
    assert observed.sum() == pytest.approx(expected.sum())
    assert chisquare(observed, expected).pvalue > 0.001
    # a uniform choice of target would be rejected by the same test
    uniform = (m[:, None] * (1 - np.eye(len(m))) / (len(m) - 1)).sum(0)
    assert chisquare(observed, uniform).pvalue < 1e-6
    # same test for the moves from the head class alone
    head = moved & (origin == 0)
    obs0 = np.bincount(target[head], minlength=clean.shape[1])[1:]
    exp0 = head.sum() * counts[1:] / counts[1:].sum()
    assert chisquare(obs0, exp0).pvalue > 0.001


def test_mislabel_without_free_class_keeps_label():
    clean = np.zeros((500, 4), dtype=bool)
    clean[:, :] = True  # every class positive: nowhere to move
    clean[::2, 3] = False  # half the rows have exactly one free class
    noisy = mislabel_noise(clean, 0.9, 123, target='absent')
    np.testing.assert_array_equal(noisy[1::2], clean[1::2])
    # rows with one free class: at most one label moved, onto class 3
    moved = (clean & ~noisy)[::2]
    assert moved.sum(1).max() == 1 and moved.sum() > 150
    np.testing.assert_array_equal(noisy[::2, 3], moved.any(1))
    np.testing.assert_array_equal(noisy.sum(1), clean.sum(1))


def test_mislabel_literal_lands_on_positives_as_eq11_writes():
    # Eq. 11 as written: j ~ N_j / (N - N_i) over every j != i, a positive
    # j included (the move then only removes i). Rows {0, 1} and rows {2}:
    # N_0 = N_1 = 3000, N_2 = 1000, N_3 = 0; a move from 0 goes to 1 with
    # probability 3000 / 4000 and to 2 with 1000 / 4000.
    clean = np.zeros((4000, 4), dtype=bool)
    clean[:3000, :2] = True
    clean[3000:, 2] = True
    noisy = mislabel_noise(clean, 0.4, 7)  # target='literal' by default
    # 0 ends negative unless 1 moved onto it: 0.4 * (1 - 0.4 * 3/4) = 0.28
    assert abs((clean & ~noisy)[:3000, 0].mean() - 0.28) < 0.03
    # each of 0 and 1 lands on 2 with 0.4 * 1/4: 1 - 0.9 ** 2 = 0.19
    assert abs(noisy[:3000, 2].mean() - 0.19) < 0.03
    assert not noisy[:, 3].any()  # N_3 = 0: never a target
    # a move onto the positive partner removes a label: some rows lose one
    assert (noisy.sum(1) < clean.sum(1))[:3000].mean() > 0.2
    # the absent reading never lands on a positive: no label is lost
    absent = mislabel_noise(clean, 0.4, 7, target='absent')
    np.testing.assert_array_equal(absent.sum(1), clean.sum(1))
    with pytest.raises(ValueError, match='target'):
        mislabel_noise(clean, 0.4, 7, target='nowhere')


def test_mislabel_literal_sparse_equals_dense():
    from mmbmix.datasets.label_noise import noisy_label_csr
    clean = random_labels(700, 9, p=0.2, seed=4)
    for target in ('literal', 'absent'):
        dense = mislabel_noise(clean, 0.4, 11, target=target)
        sparse = noisy_label_csr(
            clean,
            'mislabel',
            0.4,
            11,
            chunk_entries=900,
            mislabel_target=target).toarray()
        np.testing.assert_array_equal(sparse, dense)


def test_class_wrong_rates_hand_case():
    from scipy import sparse

    from mmbmix.datasets.label_noise import class_wrong_rates
    clean = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=bool)
    noisy = np.array([[1, 1], [0, 0], [0, 1], [1, 0]], dtype=bool)
    # class 0: given positives rows 0, 3 (row 3 wrong) -> 1/2; given
    # negatives rows 1, 2 (row 1 wrong) -> 1/2. class 1: given positives
    # rows 0, 2 (row 0 wrong) -> 1/2; given negatives rows 1, 3 -> 0
    rates = class_wrong_rates(clean, noisy)
    assert rates == dict(wrong_pos=[0.5, 0.5], wrong_neg=[0.5, 0.0])
    assert class_wrong_rates(sparse.csr_array(clean),
                             sparse.csr_array(noisy)) == rates


def test_single_positive():
    clean = random_labels(3000, 8, p=0.3)
    clean[:5] = False  # instances without positives stay empty
    noisy = single_positive_labels(clean, 0.0, 123)
    assert noisy.sum(1)[:5].tolist() == [0] * 5
    assert (noisy.sum(1)[5:] == 1).all()
    assert not (noisy & ~clean).any()  # kept label is a clean positive
    # uniform over the clean positives: the position among the positives
    rows = np.flatnonzero(clean.sum(1) == 3)
    pos = (np.cumsum(clean[rows], 1) * noisy[rows]).max(1)  # 1, 2 or 3
    freq = np.bincount(pos, minlength=4)[1:] / len(rows)
    np.testing.assert_allclose(freq, 1 / 3, atol=0.06)


@pytest.mark.parametrize('fn',
                         [mislabel_noise, flip_noise, single_positive_labels])
def test_noise_is_pure_function_of_seed(fn):
    clean = random_labels(500, 8)
    before = clean.copy()
    a = fn(clean, 0.3, 7)
    b = fn(clean, 0.3, np.random.default_rng(7))
    c = fn(clean, 0.3, 8)
    np.testing.assert_array_equal(clean, before)  # input not modified
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert (a != clean).any()


def test_zero_rate_is_identity():
    clean = random_labels(300, 8)
    np.testing.assert_array_equal(mislabel_noise(clean, 0.0, 0), clean)
    np.testing.assert_array_equal(flip_noise(clean, 0.0, 0), clean)


# ---------------------------------------------------------------- wrapper
@pytest.mark.parametrize('serialize_data', [True, False])
def test_wrapper_getitem_packs_noisy_labels(ann_file, serialize_data):
    ds = DATASETS.build(
        dict(
            type='LabelNoiseDataset',
            dataset=dataset_cfg(ann_file, serialize_data),
            noise_type='flip',
            noise_rate=0.3,
            seed=0))
    assert isinstance(ds, LabelNoiseDataset)
    inner = ds.dataset
    assert len(ds) == len(inner) == 300
    noisy, clean = ds.label_matrix, ds.clean_label_matrix
    np.testing.assert_array_equal(clean, get_label_matrix(inner).numpy())
    assert (noisy != clean).any()
    changed = 0
    for idx in range(len(ds)):
        item = ds[idx]
        sample = item['data_samples']
        expect = np.flatnonzero(noisy[idx]).tolist()
        assert sample.gt_label.tolist() == expect
        assert sample.sample_idx == idx
        assert ds.get_cat_ids(idx) == expect
        assert ds.get_data_info(idx)['gt_label'] == expect
        # the inner dataset still gives the clean labels
        assert inner.get_cat_ids(idx) == np.flatnonzero(clean[idx]).tolist()
        changed += expect != inner.get_cat_ids(idx)
    assert changed > 100
    assert torch.equal(get_label_matrix(ds), torch.from_numpy(noisy))
    assert list(ds.metainfo['classes']) == CLASSES


def test_wrapper_stats_and_reproducibility(ann_file):

    def build(seed, noise_type='mislabel', **kw):
        return LabelNoiseDataset(
            dataset_cfg(ann_file), noise_type, 0.4, seed=seed, **kw)

    a, b, c = build(0), build(0), build(1)
    np.testing.assert_array_equal(a.label_matrix, b.label_matrix)
    assert (a.label_matrix != c.label_matrix).any()
    clean, noisy = a.clean_label_matrix, a.label_matrix
    stats = a.noise_stats
    assert stats['noise_type'] == 'mislabel'
    assert stats['rate_pos'] == pytest.approx(
        (clean & ~noisy).sum() / clean.sum())
    assert stats['rate_neg'] == pytest.approx(
        (~clean & noisy).sum() / (~clean).sum())
    assert stats['rate_all'] == pytest.approx((clean != noisy).mean())
    assert 0.3 < stats['rate_pos'] < 0.5
    # 'clean' is the identity; lazy_init defers the noise
    d = build(0, noise_type='clean', lazy_init=True)
    assert d._noisy is None
    np.testing.assert_array_equal(d.label_matrix, d.clean_label_matrix)
    assert d.noise_stats['rate_all'] == 0.0
    e = build(0, noise_type='single_positive')
    assert (e.label_matrix.sum(1) == 1).all()


def test_wrapper_wraps_instance(ann_file):
    inner = DATASETS.build(dataset_cfg(ann_file))
    ds = LabelNoiseDataset(inner, 'single_positive', 0.0, seed=3)
    assert ds.dataset is inner
    assert (ds.label_matrix.sum(1) == 1).all()
    assert not (ds.label_matrix & ~ds.clean_label_matrix).any()
    assert len(ds[0]['data_samples'].gt_label) == 1


def test_wrapper_bad_arguments(ann_file):
    with pytest.raises(ValueError, match=r"noise_type.*'mislabelled'"):
        LabelNoiseDataset(dataset_cfg(ann_file), 'mislabelled', 0.2)
    with pytest.raises(ValueError, match=r'noise_rate.*1\.0'):
        LabelNoiseDataset(dataset_cfg(ann_file), 'flip', 1.0)
    with pytest.raises(ValueError, match=r'noise_rate.*-0\.1'):
        LabelNoiseDataset(dataset_cfg(ann_file), 'flip', -0.1)
    with pytest.raises(TypeError, match='dataset'):
        LabelNoiseDataset([1, 2], 'flip', 0.1)
    with pytest.raises(ValueError, match=r'noise_rate.*1\.5'):
        flip_noise(np.zeros((3, 2), bool), 1.5)


# ------------------------------------------------------- sparse, in chunks
@pytest.mark.parametrize('noise_type',
                         ['clean', 'mislabel', 'flip', 'single_positive'])
@pytest.mark.parametrize('chunk_entries', [1, 8 * 37, 1 << 22])
def test_chunked_sparse_noise_equals_the_dense_noise(noise_type,
                                                     chunk_entries):
    """Row chunks (down to one row at a time) of the sparse labels give,
    label for label, what the dense function gives with the same seed."""
    from mmbmix.datasets.label_noise import NOISE_FUNCTIONS, noisy_label_csr
    from mmbmix.datasets.utils import as_label_csr
    clean = random_labels(203, 37, p=0.1, seed=4)
    dense = NOISE_FUNCTIONS[noise_type](clean, 0.4, np.random.default_rng(11))
    sparse = noisy_label_csr(
        as_label_csr(clean), noise_type, 0.4, 11, chunk_entries=chunk_entries)
    assert sparse.shape == dense.shape and sparse.dtype == bool
    np.testing.assert_array_equal(sparse.toarray(), dense)
    if noise_type != 'clean':
        assert (dense != clean).any()


def test_sparse_wrapper_gives_the_dense_wrappers_labels(ann_file):
    """sparse=True keeps CSR labels only, with the same noisy labels, noise
    statistics and items as the dense wrapper."""
    dense = LabelNoiseDataset(dataset_cfg(ann_file), 'mislabel', 0.4, seed=2)
    sparse = LabelNoiseDataset(
        dataset_cfg(ann_file), 'mislabel', 0.4, seed=2, sparse=True)
    assert isinstance(sparse._noisy, type(sparse.label_csr))
    assert sparse.label_csr.nnz == dense.label_matrix.sum()
    np.testing.assert_array_equal(sparse.label_csr.toarray(),
                                  dense.label_matrix)
    np.testing.assert_array_equal(sparse.clean_label_csr.toarray(),
                                  dense.clean_label_matrix)
    assert sparse.noise_stats == dense.noise_stats
    for i in (0, 7, 299):
        assert sparse.get_cat_ids(i) == dense.get_cat_ids(i)
        assert torch.equal(sparse[i]['data_samples'].gt_label,
                           dense[i]['data_samples'].gt_label)
    assert dense.label_csr is None  # the dense wrapper has no CSR form
