"""Synthetic label noise for multi-label training sets (BalanceMix, Song et
al., AAAI 2024, Eq. 11).

Three noise types are injected into the *training* split only:

- ``mislabel`` (class-dependent, Eq. 11): each positive label of class i
  moves, with probability tau, to a class j != i drawn with probability
  N_j / (N - N_i) (``mislabel_target='absent'``: j among the classes absent
  from the instance, the earlier reading).
- ``flip`` (class-independent): every entry flips with probability tau.
- ``single_positive`` (missing labels): one positive per instance is kept,
  chosen uniformly at random; the others become 0.

Each noise is a pure function of (clean labels, type, tau, seed), so every
rank, worker, resume and later run sees the same noisy labels.
"""
import copy
from typing import Optional, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

from .checks import check_training_set
from .utils import get_label_csr, get_label_matrix

RngLike = Union[None, int, np.random.Generator]


def _as_label_matrix(labels) -> np.ndarray:
    """Check and copy an ``(N, K)`` label matrix into a bool numpy array."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError('label matrix must have shape (N, K), got shape '
                         f'{labels.shape}')
    return labels.astype(bool, copy=True)


def _check_rate(tau: float) -> float:
    if not 0.0 <= float(tau) < 1.0:
        raise ValueError(f'noise_rate must be in [0, 1), got {tau!r}')
    return float(tau)


MISLABEL_TARGETS = ('literal', 'absent')


def mislabel_noise(labels,
                   tau: float,
                   rng: RngLike = None,
                   target: str = 'literal') -> np.ndarray:
    """Class-dependent mislabelling (BalanceMix Eq. 11).

    Each positive label (n, i) is selected to move with probability ``tau``;
    y~_i becomes 0 and a class j != i becomes 1.

    ``target='literal'`` (Eq. 11 as written): j is drawn with
    rho(i -> j) = N_j / (N - N_i) over every j != i, independently for each
    moving label, where N_j is the number of positive labels of class j; a
    j that is already positive stays positive (the move only removes i).

    ``target='absent'`` (the reading used before 2026-12-04): j is drawn
    with probability proportional to N_j among the classes that are not
    clean positives of the instance, the moving labels of one instance
    without replacement (an exponential race, Efraimidis-Spirakis: class j
    arrives at E_nj / N_j, the moving labels take the first arrivals); when
    fewer such classes exist than moving labels, the labels left over stay.

    Args:
        labels (array-like): clean ``(N, K)`` bool label matrix.
        tau (float): probability that a positive label moves, in [0, 1).
        rng (int | np.random.Generator, optional): seed or generator.
        target (str): ``'literal'`` or ``'absent'``, see above. Defaults to
            ``'literal'``.

    Returns:
        np.ndarray: noisy ``(N, K)`` bool label matrix.
    """
    clean = _as_label_matrix(labels)
    tau = _check_rate(tau)
    rng = np.random.default_rng(rng)
    n, k = clean.shape
    # All draws cover the whole matrix: the result depends only on the seed.
    move = rng.random((n, k))
    arrival = rng.standard_exponential((n, k))
    move_order = rng.random((n, k))
    return _move_labels(clean, move < tau, arrival, move_order,
                        clean.sum(axis=0), target)


def _move_labels(clean,
                 move,
                 arrival,
                 move_order,
                 weight,
                 target: str = 'literal') -> np.ndarray:
    """Eq. 11 on a block of rows (see :func:`mislabel_noise`): ``move``
    marks the positives that move; ``weight`` is N_j. ``'literal'`` draws
    each target by inverse CDF from ``move_order``; ``'absent'`` sends the
    moving labels, in the order of ``move_order``, to the first arrivals
    ``arrival / N_j`` among the classes that are not positive."""
    if target not in MISLABEL_TARGETS:
        raise ValueError(f'mislabel noise: target must be one of '
                         f'{MISLABEL_TARGETS}, got {target!r}')
    k = clean.shape[1]
    move = clean & move
    weight = np.asarray(weight, dtype=np.float64)  # N_j
    if target == 'literal':
        return _move_literal(clean, move, move_order, weight)
    rows = np.flatnonzero(move.any(axis=1))
    noisy = clean.copy()
    if rows.size == 0:
        return noisy
    arrival = np.divide(
        arrival[rows],
        weight,
        out=np.full((rows.size, k), np.inf),
        where=weight > 0)
    arrival[clean[rows]] = np.inf  # never land on a clean positive
    move_order = np.where(move[rows], move_order[rows], np.inf)

    targets = np.argsort(arrival, axis=1, kind='stable')
    origins = np.argsort(move_order, axis=1, kind='stable')
    num_moves = np.minimum(move[rows].sum(axis=1),
                           np.isfinite(arrival).sum(axis=1))
    slot = np.arange(k) < num_moves[:, None]
    row_idx = np.broadcast_to(rows[:, None], slot.shape)[slot]
    noisy[row_idx, origins[slot]] = False
    noisy[row_idx, targets[slot]] = True
    return noisy


def _move_literal(clean, move, uniform, weight) -> np.ndarray:
    """Eq. 11 as written: every moving (n, i) goes to j ~ rho(i -> j) =
    N_j / (N - N_i), j != i, by inverse CDF of ``uniform[n, i]``; all the
    origins are cleared before the targets are set."""
    k = clean.shape[1]
    rho = np.where(np.eye(k, dtype=bool), 0.0, weight[None, :])  # (i, j)
    total = rho.sum(axis=1)  # N - N_i; 0: no class to move to, i stays
    n_idx, i_idx = np.nonzero(move & (total > 0)[None, :])
    noisy = clean.copy()
    if n_idx.size == 0:
        return noisy
    cum = np.cumsum(rho, axis=1)
    u = uniform[n_idx, i_idx] * cum[i_idx, -1]
    last = k - 1 - np.argmax(rho[:, ::-1] > 0, axis=1)  # rounding guard
    j_idx = np.minimum((cum[i_idx] <= u[:, None]).sum(axis=1), last[i_idx])
    noisy[n_idx, i_idx] = False
    noisy[n_idx, j_idx] = True
    return noisy


def flip_noise(labels, tau: float, rng: RngLike = None) -> np.ndarray:
    """Class-independent random flip: each entry flips with probability tau.

    Args:
        labels (array-like): clean ``(N, K)`` bool label matrix.
        tau (float): flip probability, in [0, 1).
        rng (int | np.random.Generator, optional): seed or generator.

    Returns:
        np.ndarray: noisy ``(N, K)`` bool label matrix.
    """
    clean = _as_label_matrix(labels)
    tau = _check_rate(tau)
    rng = np.random.default_rng(rng)
    return clean ^ (rng.random(clean.shape) < tau)


def single_positive_labels(labels,
                           tau: float = 0.0,
                           rng: RngLike = None) -> np.ndarray:
    """Missing labels: keep one positive per instance, uniformly at random.

    All the other labels become 0 (assume-negative). Instances without a
    positive stay empty.

    Args:
        labels (array-like): clean ``(N, K)`` bool label matrix.
        tau (float): ignored; present for a uniform signature.
        rng (int | np.random.Generator, optional): seed or generator.

    Returns:
        np.ndarray: ``(N, K)`` bool matrix with at most one positive per row.
    """
    clean = _as_label_matrix(labels)
    rng = np.random.default_rng(rng)
    return _keep_one(clean, rng.random(clean.shape))


def _keep_one(clean, keys) -> np.ndarray:
    """Keep, in every row, the positive with the largest key."""
    keys = np.where(clean, keys, -1.0)
    noisy = np.zeros_like(clean)
    rows = np.flatnonzero(clean.any(axis=1))
    noisy[rows, keys[rows].argmax(axis=1)] = True
    return noisy


def clean_labels(labels, tau: float = 0.0, rng: RngLike = None) -> np.ndarray:
    """Identity noise (``noise_type='clean'``): a copy of the labels."""
    return _as_label_matrix(labels)


NOISE_FUNCTIONS = {
    'clean': clean_labels,
    'mislabel': mislabel_noise,
    'flip': flip_noise,
    'single_positive': single_positive_labels,
}


def _copy(rng: np.random.Generator, skip: int = 0) -> np.random.Generator:
    """A generator at ``rng``'s state, advanced by ``skip`` 64-bit draws."""
    bits = type(rng.bit_generator)()
    bits.state = rng.bit_generator.state
    if skip:
        bits.advance(skip)
    return np.random.Generator(bits)


def noisy_label_csr(labels,
                    noise_type: str,
                    tau: float,
                    seed: RngLike = None,
                    chunk_entries: int = 1 << 22,
                    mislabel_target: str = 'literal'):
    """The noise of ``NOISE_FUNCTIONS[noise_type]``, computed row chunk by
    row chunk on sparse labels.

    The result equals the dense function's on ``labels.toarray()`` with the
    same seed: the dense functions draw whole ``(N, K)`` matrices from one
    stream, one after the other; here each of those draws is its own
    generator, started where the dense draw starts (``random`` takes one
    64-bit draw per value, so a stream is advanced past it; the exponential
    draw of :func:`mislabel_noise` is replayed once, chunk by chunk, to find
    where the third draw starts). Memory: a few ``chunk_entries`` float64
    values at a time, plus the sparse input and output.

    Args:
        labels: clean labels, dense ``(N, K)`` or scipy sparse.
        noise_type (str): a key of ``NOISE_FUNCTIONS``.
        tau (float): noise rate, in [0, 1).
        seed (int | np.random.Generator, optional): as ``rng`` of the dense
            functions.
        chunk_entries (int): labels per chunk. Defaults to 4M.
        mislabel_target (str): ``target`` of :func:`mislabel_noise`.
            Defaults to ``'literal'``.

    Returns:
        scipy.sparse.csr_array: ``(N, K)`` bool noisy labels.
    """
    from scipy import sparse

    from .utils import as_label_csr
    if noise_type not in NOISE_FUNCTIONS:
        raise ValueError(f'noise_type must be one of {sorted(NOISE_FUNCTIONS)}'
                         f', got {noise_type!r}')
    tau = _check_rate(tau)
    clean = as_label_csr(labels)
    if noise_type == 'clean':
        return clean.copy()
    n, k = clean.shape
    rng = np.random.default_rng(seed)
    step = max(1, chunk_entries // max(k, 1))
    spans = [(a, min(a + step, n)) for a in range(0, n, step)]
    if noise_type == 'mislabel':
        arrivals = _copy(rng, n * k)
        orders = _copy(arrivals)
        for a, b in spans:  # where the dense function's third draw starts
            orders.standard_exponential((b - a, k))
        weight = np.bincount(clean.indices, minlength=k)
    blocks = []
    for a, b in spans:
        block = clean[a:b].toarray()
        keys = rng.random(block.shape)
        if noise_type == 'flip':
            block = block ^ (keys < tau)
        elif noise_type == 'single_positive':
            block = _keep_one(block, keys)
        else:
            block = _move_labels(block, keys < tau,
                                 arrivals.standard_exponential(block.shape),
                                 orders.random(block.shape), weight,
                                 mislabel_target)
        blocks.append(sparse.csr_array(block))
    if not blocks:
        return clean.copy()
    return as_label_csr(sparse.vstack(blocks, format='csr'))


def noise_statistics(clean: np.ndarray, noisy: np.ndarray) -> dict:
    """Realized noise: fractions of corrupted entries.

    Returns a dict with ``rate_all`` (over all N*K entries), ``rate_pos``
    (clean positives turned 0), ``rate_neg`` (clean negatives turned 1) and
    the positive counts before and after.
    """
    from scipy import sparse
    if sparse.issparse(clean) or sparse.issparse(noisy):
        clean, noisy = (
            sparse.csr_array(m, dtype=np.int8) for m in (clean, noisy))
        diff = (clean - noisy).data
        size = int(np.prod(clean.shape))
        num_pos, num_pos_noisy = int(clean.nnz), int(noisy.nnz)
        lost, gained = int((diff == 1).sum()), int((diff == -1).sum())
    else:
        clean = np.asarray(clean, dtype=bool)
        noisy = np.asarray(noisy, dtype=bool)
        size, num_pos, num_pos_noisy = clean.size, int(clean.sum()), int(
            noisy.sum())
        lost, gained = int((clean & ~noisy).sum()), int((~clean & noisy).sum())
    num_neg = size - num_pos
    return dict(
        num_entries=int(size),
        num_pos_clean=num_pos,
        num_pos_noisy=num_pos_noisy,
        rate_all=float((lost + gained) / max(size, 1)),
        rate_pos=float(lost / max(num_pos, 1)),
        rate_neg=float(gained / max(num_neg, 1)))


def class_wrong_rates(clean, noisy) -> dict:
    """Per class, the realised share of wrong labels in the given positive
    set (``wrong_pos``: given 1, clean 0, over given 1) and in the given
    negative set (``wrong_neg``: given 0, clean 1, over given 0), as lists
    of K floats (0 for an empty set)."""
    from scipy import sparse
    if sparse.issparse(clean) or sparse.issparse(noisy):
        clean, noisy = (
            sparse.csr_array(m, dtype=np.int64) for m in (clean, noisy))
        n = clean.shape[0]
        pos = np.asarray(noisy.sum(axis=0)).ravel()
        both = np.asarray(clean.multiply(noisy).sum(axis=0)).ravel()
        num_clean = np.asarray(clean.sum(axis=0)).ravel()
    else:
        clean = np.asarray(clean, dtype=bool)
        noisy = np.asarray(noisy, dtype=bool)
        n = clean.shape[0]
        pos, both = noisy.sum(0), (clean & noisy).sum(0)
        num_clean = clean.sum(0)
    neg = n - pos
    wrong_pos = (pos - both) / np.maximum(pos, 1)
    wrong_neg = (num_clean - both) / np.maximum(neg, 1)
    return dict(
        wrong_pos=[round(float(v), 6) for v in wrong_pos],
        wrong_neg=[round(float(v), 6) for v in wrong_neg])


@DATASETS.register_module()
class LabelNoiseDataset:
    """Dataset wrapper that injects synthetic label noise (BalanceMix Eq. 11).

    The noisy labels are computed once, when the wrapper is fully
    initialised, from the labels the inner dataset gives, as a pure function
    of (clean labels, ``noise_type``, ``noise_rate``, ``seed``). Items are
    produced by the inner dataset's pipeline with ``gt_label`` replaced by
    the noisy label indices, so ``PackInputs`` packs the noisy labels. The
    clean labels stay available as :attr:`clean_label_matrix`.

    Args:
        dataset (BaseDataset | dict): the training dataset or its config.
        noise_type (str): ``'mislabel'``, ``'flip'``, ``'single_positive'``
            or ``'clean'`` (no noise).
        noise_rate (float): tau in [0, 1); ignored by ``'single_positive'``
            and ``'clean'``.
        seed (int): seed of the noise. Defaults to 0.
        lazy_init (bool): defer loading annotations and computing the noise
            to :meth:`full_init`. Defaults to False.
        sparse (bool): keep the clean and noisy labels as sparse CSR
            matrices (:attr:`label_csr`, :attr:`clean_label_csr`) and compute
            the noise in row chunks (:func:`noisy_label_csr`, the same noisy
            labels), so that memory grows with the positive labels, not
            ``N x K``. :attr:`label_matrix` is then built on each call.
            Defaults to False.
        mislabel_target (str): where a mislabelled positive goes,
            ``'literal'`` (Eq. 11 as written) or ``'absent'`` (the earlier
            reading), see :func:`mislabel_noise`. Defaults to
            ``'literal'``.
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 noise_type: str,
                 noise_rate: float,
                 seed: int = 0,
                 lazy_init: bool = False,
                 sparse: bool = False,
                 mislabel_target: str = 'literal'):
        if noise_type not in NOISE_FUNCTIONS:
            raise ValueError(f'LabelNoiseDataset: noise_type must be one of '
                             f'{sorted(NOISE_FUNCTIONS)}, got {noise_type!r}')
        if not isinstance(noise_rate, (int, float)) or \
                not 0.0 <= noise_rate < 1.0:
            raise ValueError('LabelNoiseDataset: noise_rate must be in '
                             f'[0, 1), got {noise_rate!r}')
        if isinstance(dataset, dict):
            self.dataset = DATASETS.build(dataset)
        elif isinstance(dataset, BaseDataset):
            self.dataset = dataset
        else:
            raise TypeError('LabelNoiseDataset: dataset must be a config dict '
                            f'or a BaseDataset, got {type(dataset)}')
        if mislabel_target not in MISLABEL_TARGETS:
            raise ValueError('LabelNoiseDataset: mislabel_target must be one '
                             f'of {MISLABEL_TARGETS}, got {mislabel_target!r}')
        self.mislabel_target = mislabel_target
        self.noise_type = noise_type
        self.noise_rate = float(noise_rate)
        self.seed = seed
        self.sparse = bool(sparse)
        self._metainfo = self.dataset.metainfo
        self._clean: Optional[np.ndarray] = None
        self._noisy: Optional[np.ndarray] = None
        self.noise_stats: dict = {}
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """Meta information of the inner dataset."""
        return copy.deepcopy(self._metainfo)

    @property
    def pipeline(self):
        """The inner dataset's pipeline."""
        return self.dataset.pipeline

    @property
    def test_mode(self) -> bool:
        return self.dataset.test_mode

    def full_init(self):
        """Initialise the inner dataset and compute the noisy labels."""
        if self._fully_initialized:
            return
        self.dataset.full_init()
        check_training_set(self.dataset)
        num_classes = len(self._metainfo['classes'])
        if self.sparse:
            self._clean = get_label_csr(self.dataset, num_classes)
            self._noisy = noisy_label_csr(
                self._clean,
                self.noise_type,
                self.noise_rate,
                self.seed,
                mislabel_target=self.mislabel_target)
        else:
            self._clean = get_label_matrix(self.dataset, num_classes).numpy()
            kwargs = dict(target=self.mislabel_target) \
                if self.noise_type == 'mislabel' else {}
            self._noisy = NOISE_FUNCTIONS[self.noise_type](
                self._clean, self.noise_rate, np.random.default_rng(self.seed),
                **kwargs)
        self.noise_stats = dict(
            noise_type=self.noise_type,
            noise_rate=self.noise_rate,
            seed=self.seed,
            mislabel_target=self.mislabel_target,
            **noise_statistics(self._clean, self._noisy),
            **class_wrong_rates(self._clean, self._noisy))
        self._fully_initialized = True
        s = self.noise_stats
        print_log(
            f'LabelNoiseDataset: {self.noise_type} noise, target rate '
            f'{self.noise_rate:.3f}, seed {self.seed}; realized corrupted '
            f'entries: {100 * s["rate_all"]:.2f}% overall, '
            f'{100 * s["rate_pos"]:.2f}% of positives, '
            f'{100 * s["rate_neg"]:.2f}% of negatives; positive labels '
            f'{s["num_pos_clean"]} -> {s["num_pos_noisy"]}',
            logger='current')

    @property
    def label_matrix(self) -> np.ndarray:
        """Noisy ``(N, K)`` bool label matrix (the labels given)."""
        self.full_init()
        return self._noisy.toarray() if self.sparse else self._noisy

    @property
    def clean_label_matrix(self) -> np.ndarray:
        """Clean ``(N, K)`` bool label matrix of the inner dataset."""
        self.full_init()
        return self._clean.toarray() if self.sparse else self._clean

    @property
    def label_csr(self):
        """Noisy labels as a ``scipy.sparse.csr_array`` (sparse mode), else
        None."""
        self.full_init()
        return self._noisy if self.sparse else None

    @property
    def clean_label_csr(self):
        """Clean labels as a ``scipy.sparse.csr_array`` (sparse mode), else
        None."""
        self.full_init()
        return self._clean if self.sparse else None

    def __len__(self) -> int:
        self.full_init()
        return self._noisy.shape[0]

    def get_cat_ids(self, idx: int) -> list:
        """Noisy label indices of instance ``idx``."""
        self.full_init()
        if self.sparse:
            m = self._noisy
            return m.indices[m.indptr[idx]:m.indptr[idx + 1]].tolist()
        return np.flatnonzero(self._noisy[idx]).tolist()

    def get_data_info(self, idx: int) -> dict:
        """Inner data info with ``gt_label`` replaced by the noisy labels."""
        info = self.dataset.get_data_info(idx)
        info['gt_label'] = self.get_cat_ids(idx)
        info['sample_idx'] = idx
        return info

    def prepare_data(self, idx: int):
        """Noisy data info of ``idx`` through the inner pipeline."""
        return self.dataset.pipeline(self.get_data_info(idx))

    def __getitem__(self, idx: int):
        """Like :meth:`BaseDataset.__getitem__`, with the noisy labels."""
        self.full_init()
        max_refetch = getattr(self.dataset, 'max_refetch', 1000)
        for _ in range(max_refetch + 1):
            data = self.prepare_data(idx)
            if data is not None:
                return data
            if self.test_mode:
                raise RuntimeError('LabelNoiseDataset: the test pipeline '
                                   f'returned None for index {idx}')
            idx = np.random.randint(0, len(self))
        raise RuntimeError(f'LabelNoiseDataset: cannot get a valid item '
                           f'after {max_refetch + 1} tries')

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(noise_type={self.noise_type!r}, '
            f'noise_rate={self.noise_rate}, seed={self.seed}, '
            f'sparse={self.sparse}, dataset={self.dataset.__class__.__name__})'
        )
