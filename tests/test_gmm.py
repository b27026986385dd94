"""Batched two-component 1-D GMM (BalanceMix Eq. 6-8) against sklearn."""
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from mmbmix.models.utils import fit_gmm_1d, gmm_posterior
from mmbmix.models.utils.gmm import GMMParams, _posterior_table


def _losses(num_groups=20, seed=0):
    """Ragged, interleaved groups of clean (small) and noisy (large) losses."""
    rng = np.random.default_rng(seed)
    values, groups = [], []
    for g in range(num_groups):
        n = int(rng.integers(200, 3000))
        noisy = rng.random(n) < rng.uniform(0.05, 0.4)
        clean_scale = rng.uniform(0.02, 0.2)
        loss = np.where(noisy, np.abs(rng.normal(rng.uniform(1.5, 4), 0.6, n)),
                        rng.exponential(clean_scale, n))
        values.append(loss)
        groups.append(np.full(n, g))
    order = rng.permutation(sum(map(len, values)))
    values = np.concatenate(values)[order].astype(np.float32)
    return values, np.concatenate(groups)[order]


def _sklearn(values, groups, num_groups):
    """Per-group loop: p_G of the smaller-mean component, sorted means."""
    post = np.zeros(len(values))
    means = np.zeros((num_groups, 2))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ConvergenceWarning)
        for g in range(num_groups):
            x = values[groups == g].astype(np.float64)[:, None]
            gm = GaussianMixture(
                2, max_iter=10, tol=1e-2, reg_covar=5e-4,
                random_state=0).fit(x)
            clean = int(np.argmin(gm.means_.ravel()))
            post[groups == g] = gm.predict_proba(x)[:, clean]
            means[g] = np.sort(gm.means_.ravel())
    return post, means


@pytest.fixture(scope='module')
def data():
    values, groups = _losses()
    return values, groups, _sklearn(values, groups, 20)


@pytest.mark.parametrize('num_bins', [256, 512, 1024, None])
def test_agrees_with_sklearn(data, num_bins):
    values, groups, (sk_post, sk_means) = data
    v, g = torch.from_numpy(values), torch.from_numpy(groups)
    params = fit_gmm_1d(v, g, 20, num_bins=num_bins)
    post = gmm_posterior(v, g, params)

    assert isinstance(params, GMMParams) and params.fitted.all()
    assert post.shape == v.shape and post.dtype == torch.float32
    agree = ((post.numpy() > 0.5) == (sk_post > 0.5)).mean()
    assert agree >= 0.995
    # the data really has both kinds: about 5-40 % noisy per group
    assert 0.05 < (post < 0.5).float().mean() < 0.4
    np.testing.assert_allclose(params.means.numpy(), sk_means, atol=0.01)
    np.testing.assert_allclose(post.numpy(), sk_post, atol=0.02)
    np.testing.assert_allclose(params.weights.sum(1).numpy(), 1.0)


@pytest.mark.parametrize('num_bins', [256, 512, 1024, None])
def test_lone_outlier_does_not_take_a_component(num_bins):
    # min/max k-means seeds would give the outlier a component of its own
    rng = np.random.default_rng(5)
    x = np.concatenate([
        rng.exponential(0.05, 4000),
        np.abs(rng.normal(2.5, 0.7, 1000)), [50.0]
    ])
    sk_post, sk_means = _sklearn(x, np.zeros(len(x), dtype=int), 1)
    v, g = torch.from_numpy(x), torch.zeros(len(x), dtype=torch.long)
    params = fit_gmm_1d(v, g, 1, num_bins=num_bins)
    post = gmm_posterior(v, g, params).numpy()
    assert params.means[0, 1] < 3 and sk_means[0, 1] < 3
    # the outlier stretches the bins: 256 bins are 0.2 wide here, and the
    # noisy mean lands within 0.011 of sklearn's (512 bins: 0.003)
    atol = 0.02 if num_bins == 256 else 0.01
    np.testing.assert_allclose(params.means.numpy(), sk_means, atol=atol)
    assert ((post > 0.5) == (sk_post > 0.5)).mean() >= 0.999
    assert (post[:4000] > 0.5).mean() > 0.97 and (post[4000:] < .5).all()


def test_component_zero_has_smaller_mean():
    # noisy majority, clean values last: component 0 is still the clean one
    rng = np.random.default_rng(1)
    clean = rng.exponential(0.1, (4, 300))
    noisy = rng.normal(3.0, 0.5, (4, 700))
    values = torch.from_numpy(np.concatenate([noisy, clean], 1).ravel())
    groups = torch.arange(4).repeat_interleave(1000)
    params = fit_gmm_1d(values, groups, 4)
    assert (params.means[:, 0] < params.means[:, 1]).all()
    assert torch.allclose(
        params.means[:, 1],
        torch.full((4, ), 3.0, dtype=torch.float64),
        atol=0.1)
    assert torch.allclose(
        params.weights[:, 0],
        torch.full((4, ), 0.3, dtype=torch.float64),
        atol=0.03)
    post = gmm_posterior(values, groups, params).view(4, 1000)
    assert (post[:, 700:] > 0.5).float().mean() > 0.97  # clean -> p_G high
    assert (post[:, :700] < 0.5).float().mean() > 0.97


def test_unfittable_groups_are_clean():
    rng = np.random.default_rng(2)
    good = np.concatenate([rng.exponential(0.05, 400), rng.normal(3, .5, 100)])
    values = np.concatenate([good, [0.1, 5.0, 0.2], np.full(50, 0.7)])
    groups = np.concatenate([np.zeros(500), np.ones(3), np.full(50, 2)])
    v = torch.from_numpy(values).float()
    g = torch.from_numpy(groups).long()
    params = fit_gmm_1d(v, g, 4)  # group 3 is empty
    assert params.fitted.tolist() == [True, False, False, False]
    for t in params:
        assert torch.isfinite(t.double()).all()
    post = gmm_posterior(v, g, params)
    assert (post[500:] == 1).all()  # too small / constant: clean
    assert (post[:500] < 0.5).sum() == pytest.approx(100, abs=5)
    # the minimum size is configurable
    assert fit_gmm_1d(v, g, 4, min_samples=2).fitted[1]


def test_non_finite_values_are_ignored():
    values, groups = _losses(num_groups=3, seed=3)
    v, g = torch.from_numpy(values), torch.from_numpy(groups)
    ref = fit_gmm_1d(v, g, 3)
    bad = torch.tensor([float('nan'), float('inf'), -float('inf')] * 3)
    v2 = torch.cat([v, bad])
    g2 = torch.cat([g, torch.arange(3).repeat_interleave(3)])
    params = fit_gmm_1d(v2, g2, 3)
    for a, b in zip(params, ref):
        assert torch.isfinite(a.double()).all()
        assert torch.allclose(a.double(), b.double())
    post = gmm_posterior(v2, g2, params)
    assert not torch.isnan(post).any()
    assert (post[-9:] == 0).all()  # a NaN/inf loss is not clean
    assert torch.equal(post[:-9], gmm_posterior(v, g, ref))
    # non-finite values of an unfitted group are not clean either
    unfit = fit_gmm_1d(v2, g2, 3, min_samples=10**6)
    assert (gmm_posterior(v2, g2, unfit)[-9:] == 0).all()
    assert (gmm_posterior(v2, g2, unfit)[:-9] == 1).all()


def _reference_posterior(x, groups, params):
    """Eq. 8 in float64, straight from the Gaussian densities."""
    x = torch.as_tensor(x, dtype=torch.float64)[:, None]
    mu, var, w = (t[groups] for t in params)
    logp = w.log() - 0.5 * (var * 2 * np.pi).log() - (x - mu)**2 / (2 * var)
    return torch.softmax(logp, dim=1)[:, 0]


@pytest.mark.parametrize('offset', [0.0, 1000.0])
def test_posterior_matches_densities(offset):
    # offset 1000 in float32: the quadratic is evaluated around mean 0
    values, groups = _losses(num_groups=4, seed=6)
    v = torch.from_numpy(values + np.float32(offset))
    g = torch.from_numpy(groups)
    params = fit_gmm_1d(v, g, 4)
    post = gmm_posterior(v, g, params)
    ref = _reference_posterior(v, g, params[:3])
    assert post.dtype == torch.float32
    assert ((post > 0.5) == (ref > 0.5)).float().mean() > 0.999
    # between the means, the densities' posterior; from the noisy mean on,
    # 0; below the clean mean, the envelope only ever raises it
    x = v.double()
    below = x < params.means[g, 1]
    inside = below & (x >= params.means[g, 0])
    assert torch.allclose(post.double()[inside], ref[inside], atol=2e-3)
    assert torch.all(post.double()[below] >= ref[below] - 2e-3)
    assert torch.all(post[~below] == 0)
    assert 0.05 < (ref < 0.5).double().mean() < 0.4
    # losses: one quadratic in x; far from 0: centred on each group
    shift = _posterior_table(params, torch.float32, 'cpu')[0]
    assert (shift is None) == (offset == 0)


def test_empty_input():
    params = fit_gmm_1d(torch.zeros(0), torch.zeros(0, dtype=torch.long), 3)
    assert params.means.shape == (3, 2) and not params.fitted.any()
    assert torch.isfinite(params.variances).all()
    post = gmm_posterior(
        torch.zeros(0), torch.zeros(0, dtype=torch.long), params)
    assert post.shape == (0, )


def test_bad_groups_raise():
    v = torch.rand(10)
    with pytest.raises(ValueError, match='groups must lie in'):
        fit_gmm_1d(v, torch.full((10, ), 5), 3)
    with pytest.raises(ValueError, match=r'got \[-1, 0\]'):
        fit_gmm_1d(v, torch.arange(10) % 2 - 1, 3)
    with pytest.raises(ValueError, match='elements'):
        fit_gmm_1d(v, torch.zeros(9, dtype=torch.long), 3)


def test_offset_data_and_int32_groups():
    # values far from 0 with a small spread: fitted in group coordinates
    rng = np.random.default_rng(4)
    x = np.concatenate(
        [rng.normal(1000, 0.01, 800),
         rng.normal(1000.1, 0.01, 200)])
    v = torch.from_numpy(x)  # float64 values
    g = torch.zeros(1000, dtype=torch.int32)
    params = fit_gmm_1d(v, g, 1)
    assert torch.allclose(
        params.means[0],
        torch.tensor([1000., 1000.1], dtype=torch.float64),
        atol=2e-3)
    post = gmm_posterior(v, g, params)
    assert post.dtype == torch.float64
    assert ((post > 0.5) == torch.arange(1000).lt(800)).float().mean() > 0.99


def _params(means, variances, weights):
    d = torch.float64
    return GMMParams(
        torch.tensor(means, dtype=d), torch.tensor(variances, dtype=d),
        torch.tensor(weights, dtype=d),
        torch.ones(len(means), dtype=torch.bool))


def test_wide_clean_component_never_makes_large_losses_clean():
    """Clean N(1, 0.6^2) at weight 0.8, noisy N(3, 0.1^2): the plain
    posterior is quadratic in the loss and gives p_G ~ 1 again at 4-8."""
    params = _params([[1.0, 3.0]], [[0.36, 0.01]], [[0.8, 0.2]])
    x = torch.tensor([0.05, 1.0, 2.0, 2.9, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0])
    p = gmm_posterior(x, torch.zeros(len(x), dtype=torch.long), params)
    assert torch.all(p[:3] > 0.99)  # below the noisy mean: the density ratio
    assert torch.all(p[x >= 3.0] == 0)  # at or above it: never clean
    assert torch.all(p[1:] <= p[:-1])


def test_clean_prob_on_the_issue_case_is_monotone():
    """One class's positive losses, 80% from N(1.0, 0.6^2) (clipped at
    0.01) and 20% from N(3.0, 0.1^2), and four large losses of 4, 5, 6, 8
    judged by the mixture fitted to the others: all four are not clean."""
    g = torch.Generator().manual_seed(0)
    clean = (1.0 + 0.6 * torch.randn(800, generator=g)).clamp(min=0.01)
    noisy = 3.0 + 0.1 * torch.randn(200, generator=g)
    fit = torch.cat([clean, noisy])
    params = fit_gmm_1d(fit, torch.zeros(1000, dtype=torch.long), 1)
    assert params.variances[0, 0] > params.variances[0, 1]  # wide clean
    x = torch.cat([fit, torch.tensor([4.0, 5.0, 6.0, 8.0])])
    p = gmm_posterior(x, torch.zeros(len(x), dtype=torch.long), params)
    assert torch.all(p[-4:] == 0)
    order = x.argsort()
    assert torch.all(p[order][1:] <= p[order][:-1])


@pytest.mark.parametrize('seed', range(5))
def test_posterior_is_non_increasing_for_any_mixture(seed):
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(50, 2, generator=g) * 4).sort(1).values.double()
    variances = (torch.rand(50, 2, generator=g) * 2 + 1e-3).double()
    w0 = torch.rand(50, 1, generator=g).double() * 0.9 + 0.05
    params = GMMParams(means, variances, torch.cat([w0, 1 - w0], 1),
                       torch.ones(50, dtype=torch.bool))
    x = torch.linspace(0, 20, 2001).repeat(50)
    groups = torch.arange(50).repeat_interleave(2001)
    p = gmm_posterior(x, groups, params).view(50, 2001)
    assert torch.all(p[:, 1:] <= p[:, :-1] + 1e-6)
    above = x.view(50, 2001) >= means[:, 1:].float()
    assert torch.all(p[above] == 0)


def test_bic_split_rule_on_known_shapes():
    """One Gaussian: not split; two separated Gaussians: split; a skewed
    (exponential) sample: split too, which is why split='bic' is not the
    default (docs/implementation_notes.md)."""
    from mmbmix.models.utils.gmm import bic_prefers_two
    g = torch.Generator().manual_seed(0)
    one = torch.randn(2000, generator=g) * 0.3 + 1
    two = torch.cat([
        torch.randn(1500, generator=g) * 0.2,
        torch.randn(500, generator=g) * 0.2 + 2
    ])
    expo = torch.empty(2000).exponential_(5.0, generator=g)
    x = torch.cat([one, two, expo])
    groups = torch.arange(3).repeat_interleave(2000)
    params = fit_gmm_1d(x, groups, 3)
    assert bic_prefers_two(x, groups, params,
                           3).tolist() == [False, True, True]
