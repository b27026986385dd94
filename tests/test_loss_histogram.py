"""Streaming loss histograms (Open Images-scale state for Eq. 6-8)."""
import numpy as np
import pytest
import torch
from test_gmm import _sklearn

from mmbmix.models.utils import (LossHistogram, batch_clean_prob, fit_gmm_1d,
                                 gmm_posterior)

K = 6


def _batch_losses(n=6000, seed=0):
    """(N, K) losses with a clean and a noisy mode, and long-tailed labels."""
    rng = np.random.default_rng(seed)
    labels = rng.random((n, K)) < np.geomspace(0.4, 0.05, K)
    noisy = rng.random((n, K)) < rng.uniform(0.1, 0.35, K)
    loss = np.where(noisy, np.abs(rng.normal(2.5, 0.6, (n, K))),
                    rng.exponential(0.08, (n, K)))
    return torch.from_numpy(loss.astype(np.float32)), torch.from_numpy(labels)


def _fill(hist, losses, labels, batch=500):
    for i in range(0, len(losses), batch):
        hist.update(losses[i:i + batch], labels[i:i + batch])


def _groups(labels):
    return (torch.arange(K) + K * labels.long()).reshape(-1)


@pytest.mark.parametrize('epochs', [1, 2])
def test_fit_from_histograms_agrees_with_sklearn(epochs):
    """Epoch 1 uses the initial [0, init_max] bins, epoch 2 the ranges seen
    in epoch 1; both must decide like sklearn on >= 99.5% of labels."""
    losses, labels = _batch_losses()
    hist = LossHistogram(K, num_bins=128)
    for _ in range(epochs):
        if _ > 0:
            hist.next_epoch()
        _fill(hist, losses, labels)
    params = hist.fit()
    p_g = batch_clean_prob(losses, labels, params)

    g = _groups(labels).numpy()
    sk_post, sk_means = _sklearn(losses.reshape(-1).numpy(), g, 2 * K)
    agree = ((p_g.reshape(-1).numpy() > 0.5) == (sk_post > 0.5)).mean()
    assert agree >= 0.995, agree
    assert params.fitted.all()
    # the first epoch's bins are coarse ([0, 10] in 128 bins): the noisy
    # mode's mean is then within 5% only; with the seen ranges, 2.5%
    np.testing.assert_allclose(
        params.means.numpy(), sk_means, atol=0.06 if epochs > 1 else 0.15)
    # and with the dense binned fit on the values themselves
    dense = fit_gmm_1d(losses.reshape(-1), _groups(labels), 2 * K)
    p_dense = gmm_posterior(losses.reshape(-1), _groups(labels), dense)
    assert ((p_dense > 0.5) == (p_g.reshape(-1) > 0.5)).float().mean() \
        >= 0.998


def test_sufficient_statistics_are_exact():
    """Counts and sums per set equal those of the values, whatever the
    bins (values beyond the range go to the end bins, still exact)."""
    losses, labels = _batch_losses(n=3000, seed=1)
    hist = LossHistogram(K, num_bins=16, init_max=1.0)  # many beyond range
    _fill(hist, losses, labels, batch=256)
    n, s1, _ = hist.stats
    g = _groups(labels)
    x = losses.reshape(-1).double()
    want_n = torch.bincount(g, minlength=2 * K).double()
    want_sum = torch.zeros(2 * K, dtype=torch.float64).index_add_(0, g, x)
    torch.testing.assert_close(n.sum(1), want_n)
    got_sum = hist.lo * n.sum(1) + s1.sum(1) / hist.scale
    torch.testing.assert_close(got_sum, want_sum, rtol=1e-9, atol=1e-6)


def test_next_epoch_takes_the_ranges_seen():
    losses, labels = _batch_losses(n=2000, seed=2)
    hist = LossHistogram(K, num_bins=32)
    _fill(hist, losses, labels)
    hist.next_epoch()
    g = _groups(labels)
    x = losses.reshape(-1)
    for grp in (0, K - 1, K, 2 * K - 1):
        vals = x[g == grp]
        assert hist.lo[grp] == pytest.approx(float(vals.min()))
        assert hist.scale[grp] == pytest.approx(32 /
                                                float(vals.max() - vals.min()))
    assert hist.stats.abs().sum() == 0


def test_batch_order_does_not_matter():
    losses, labels = _batch_losses(n=1500, seed=3)
    a, b = LossHistogram(K), LossHistogram(K)
    _fill(a, losses, labels, batch=1500)
    perm = torch.randperm(1500, generator=torch.Generator().manual_seed(0))
    _fill(b, losses[perm], labels[perm], batch=97)
    torch.testing.assert_close(a.stats, b.stats, rtol=1e-12, atol=1e-9)


def test_state_does_not_grow_with_images():
    small, large = LossHistogram(9605, num_bins=128), LossHistogram(9605)
    _fill(small, *(_pad(*_batch_losses(n=100))))
    assert small.nbytes == large.nbytes
    # 3 x 2K x (num_bins + 1) float64 + 4 x 2K ranges
    assert small.nbytes == 3 * 2 * 9605 * 128 * 8 + 2 * 9605 * (8 + 8 + 4 + 4)


def _pad(losses, labels, k=9605):
    """Widen a (N, K) batch to k classes (zeros, negative labels)."""
    out = torch.zeros(len(losses), k)
    out[:, :K] = losses
    lab = torch.zeros(len(losses), k, dtype=torch.bool)
    lab[:, :K] = labels
    return out, lab


def test_bad_input_is_named():
    hist = LossHistogram(K)
    with pytest.raises(ValueError, match='must both be'):
        hist.update(torch.zeros(4, K + 1), torch.zeros(4, K + 1))
    bad = torch.zeros(4, K)
    bad[1, 2] = float('nan')
    with pytest.raises(FloatingPointError, match='non-finite'):
        hist.update(bad, torch.zeros(4, K))
    with pytest.raises(ValueError, match='num_bins'):
        LossHistogram(K, num_bins=1)
