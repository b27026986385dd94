"""DualBatchSampler: random halves cover the data, minority halves follow
Eq. 4."""
import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler
from scipy.stats import chisquare

from mmbmix.datasets import DualBatchSampler


class _Data:

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def _make(n, batch_size, rank=0, world=2, seed=3, monkeypatch=None):
    monkeypatch.setattr('mmengine.dataset.sampler.get_dist_info', lambda:
                        (rank, world))
    monkeypatch.setattr(
        'mmbmix.datasets.samplers.dual_batch_sampler.get_dist_info', lambda:
        (rank, world))
    sampler = DefaultSampler(_Data(n), shuffle=True, seed=seed)
    return DualBatchSampler(sampler, batch_size)


def test_random_halves_cover_every_index_once_across_two_ranks(monkeypatch):
    n, b = 203, 8
    seen = []
    for rank in range(2):
        bs = _make(n, b, rank=rank, monkeypatch=monkeypatch)
        bs.set_epoch(1)
        batches = list(bs)
        assert len(batches) == len(bs) == int(np.ceil(np.ceil(n / 2) / b))
        for batch in batches:
            half = len(batch) // 2
            assert len(batch) == 2 * half
            seen.extend(batch[:half])
    # DefaultSampler pads rank shards to equal length: 204 = 203 + 1 repeat.
    counts = np.bincount(seen, minlength=n)
    assert counts.min() == 1 and counts.sum() == 2 * int(np.ceil(n / 2))
    assert (counts == 1).sum() >= n - 1


def test_minority_frequencies_follow_eq4(monkeypatch):
    n = 50
    bs = _make(n, 25, world=1, monkeypatch=monkeypatch)
    probs = torch.linspace(1, 10, n)**2
    probs = probs / probs.sum()
    bs.set_sampling_probs(probs)
    draws = bs.minority_indices(200_000)
    observed = np.bincount(draws.numpy(), minlength=n)
    expected = probs.double().numpy() * len(draws)
    _, p = chisquare(observed, expected)
    assert p > 1e-3
    # A uniform sampler would be rejected by the same test.
    _, p_uniform = chisquare(observed, np.full(n, len(draws) / n))
    assert p_uniform < 1e-6
    assert torch.allclose(bs.sampling_probs, probs.double(), atol=1e-7)


def test_uniform_until_statistics_exist(monkeypatch):
    n = 20
    bs = _make(n, 10, world=1, monkeypatch=monkeypatch)
    draws = bs.minority_indices(100_000).numpy()
    _, p = chisquare(np.bincount(draws, minlength=n))
    assert p > 1e-3


def test_streams_seeded_by_seed_epoch_rank(monkeypatch):
    a = _make(100, 10, rank=0, monkeypatch=monkeypatch)
    b = _make(100, 10, rank=0, monkeypatch=monkeypatch)
    c = _make(100, 10, rank=1, monkeypatch=monkeypatch)
    for s in (a, b, c):
        s.set_epoch(4)
    assert list(a) == list(b)
    assert [x[5:] for x in a] != [x[5:] for x in c]
    first = list(a)
    a.set_epoch(5)
    assert [x[5:] for x in a] != [x[5:] for x in first]


def test_rejects_bad_probabilities(monkeypatch):
    bs = _make(10, 2, world=1, monkeypatch=monkeypatch)
    with pytest.raises(ValueError, match='10'):
        bs.set_sampling_probs(torch.ones(9))
    with pytest.raises(ValueError, match='finite'):
        bs.set_sampling_probs(torch.tensor([float('nan')] + [1.0] * 9))
