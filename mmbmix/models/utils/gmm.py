# Copyright (c) mmbmix contributors. All rights reserved.
"""Batched 1-D two-component Gaussian mixtures (BalanceMix, Song et al., AAAI
2024, Eq. 6-8).

BalanceMix fits, once per epoch, one two-component Gaussian mixture to the
BCE losses of the positive labels of each class and one to those of the
negative labels (2K mixtures). ``fit_gmm_1d`` fits all of them at once from a
flat ``(values, groups)`` pair with EM written as scatter-adds (no Python loop
over groups or values), and ``gmm_posterior`` returns p_G, the posterior of
the smaller-mean ("clean") component (Eq. 8).

The fit reproduces ``sklearn.mixture.GaussianMixture(n_components=2,
max_iter=10, tol=1e-2, reg_covar=5e-4)`` run on every group separately:
k-means initialisation (Lloyd from the best 2-means split, where sklearn uses
random k-means++ seeds), the same M-step (``nk + 10 eps``, ``reg_covar`` added
to the variances, normalised weights) and the same stopping rule (change of
the mean log-likelihood below ``tol``, checked per group: a converged group is
frozen while the others go on).
"""
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, NamedTuple, Optional

import torch
from torch import Tensor

_EPS10 = 10 * torch.finfo(torch.float64).eps  # sklearn: nk += 10 * eps
_LOG_2PI = math.log(2 * math.pi)
_INIT_BINS = 1024  # bins of the k-means seeding when fitting on the values
_MIN_CHUNK = 1 << 20  # values per thread below which one thread is used
_POOL: Optional[ThreadPoolExecutor] = None


def _chunks(n: int, device: torch.device) -> List[slice]:
    """Slices of the values, one per CPU thread.

    torch runs ``scatter_reduce_``, ``index_add_`` and ``index_select`` on a
    single thread on CPU; the passes over the values are split into
    ``torch.get_num_threads()`` chunks run from a thread pool (torch releases
    the GIL); the timings: ``docs/implementation_notes.md``.
    """
    threads = torch.get_num_threads() if device.type == 'cpu' else 1
    parts = max(1, min(threads, n // _MIN_CHUNK))
    step = -(-n // parts) if n else 1
    return [slice(i, min(i + step, n)) for i in range(0, max(n, 1), step)]


def _forget_pool() -> None:
    """A forked child (e.g. a dataloader worker) has none of the parent's
    pool threads: it starts its own if it needs one."""
    global _POOL
    _POOL = None


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_forget_pool)


def _map(fn: Callable, chunks: List[slice]) -> list:
    """``[fn(c) for c in chunks]``, in parallel when there are several."""
    global _POOL
    if len(chunks) == 1:
        return [fn(chunks[0])]
    if _POOL is None or _POOL._max_workers < len(chunks):
        _POOL = ThreadPoolExecutor(len(chunks), thread_name_prefix='gmm')
    return list(_POOL.map(fn, chunks))


class GMMParams(NamedTuple):
    """Parameters of G two-component 1-D mixtures (component 0: smaller mean).

    Attributes:
        means (Tensor): ``(G, 2)`` component means.
        variances (Tensor): ``(G, 2)`` component variances (``reg_covar``
            included).
        weights (Tensor): ``(G, 2)`` mixing weights, rows sum to 1.
        fitted (Tensor): ``(G,)`` bool; False for groups that were too small
            or too uniform to fit. Their labels are treated as clean.
    """
    means: Tensor
    variances: Tensor
    weights: Tensor
    fitted: Tensor


def fit_gmm_1d(values: Tensor,
               groups: Tensor,
               num_groups: int,
               max_iter: int = 10,
               tol: float = 1e-2,
               reg_covar: float = 5e-4,
               min_samples: int = 8,
               min_var: float = 1e-8,
               num_bins: Optional[int] = 256,
               kmeans_iter: int = 300) -> GMMParams:
    """Fit ``num_groups`` independent two-component 1-D GMMs (Eq. 6-7).

    Every group ``g`` gets the mixture that sklearn's ``GaussianMixture(2)``
    would fit to ``values[groups == g]``. Non-finite values are ignored.
    Component 0 is the one with the smaller mean, whose posterior is p_G
    (Eq. 8, see :func:`gmm_posterior`).

    With ``num_bins`` set, each group's values are first reduced to exact
    per-bin sufficient statistics (count, sum, sum of squares) over
    ``num_bins`` equal bins spanning the group's [min, max]; k-means and EM
    then run on the bins, with one responsibility per bin evaluated at the bin
    mean. This is what makes the fit cheap on CPU (one pass over the values);
    the parameters differ from the per-value EM by far less than the gap
    between runs of sklearn with different seeds. ``num_bins=None`` runs
    k-means and EM on the individual values (float64; ~10-50x slower on CPU,
    fine on GPU).

    Args:
        values (Tensor): ``(L,)`` floating values, e.g. per-label BCE losses.
        groups (Tensor): ``(L,)`` integer group of each value, in
            ``[0, num_groups)`` (e.g. ``k`` for the negatives of class k and
            ``K + k`` for its positives).
        num_groups (int): number of mixtures G.
        max_iter (int): maximum number of EM iterations. Defaults to 10.
        tol (float): a group stops when the change of its mean
            log-likelihood is below ``tol``. Defaults to 1e-2.
        reg_covar (float): added to every variance. Defaults to 5e-4.
        min_samples (int): groups with fewer finite values are not fitted.
            Defaults to 8.
        min_var (float): groups whose finite values have a variance below
            this are not fitted. Defaults to 1e-8.
        num_bins (int, optional): bins per group for the sufficient
            statistics; None fits on the values themselves. Defaults to 256
            (its agreement with sklearn and its cost:
            ``benchmarks/results/gmm.json``, ``docs/implementation_notes.md``).
        kmeans_iter (int): maximum number of Lloyd iterations of the k-means
            initialisation. Defaults to 300 (sklearn's KMeans default).

    Returns:
        GMMParams: float64 parameters on the device of ``values``. Groups with
        ``fitted`` False get both means equal to the group mean (0 when
        empty), variance ``var + reg_covar`` and weights 0.5.

    Example:
        >>> # losses, labels: (N, K); negatives of class k -> group k,
        >>> # positives -> group K + k
        >>> groups = torch.arange(K) + K * labels.long()
        >>> params = fit_gmm_1d(losses.flatten(), groups.flatten(), 2 * K)
        >>> p_g = gmm_posterior(losses.flatten(), groups.flatten(), params)
        >>> clean = p_g.view(N, K) > 0.5
    """
    _check_inputs(values, groups, num_groups, max_iter, tol, reg_covar,
                  num_bins)
    x, g = _finite(values.reshape(-1), groups.reshape(-1))
    dtype = torch.promote_types(x.dtype, torch.float32)
    x = x.to(torch.float64 if num_bins is None else dtype)
    try:
        lo, span = _group_range(x, g, num_groups)
    except RuntimeError:  # an index out of bounds: say which, and how
        _check_group_range(g, num_groups)
        raise
    nb = num_bins or _INIT_BINS
    scale = nb / span
    ok = (span > 0) & torch.isfinite(scale.to(x.dtype)) & (scale > 0)
    scale = torch.where(ok, scale, torch.ones_like(span))
    bins = _bin_atoms(x, g, lo, scale, num_groups, nb)
    atoms = bins if num_bins else _value_atoms(x, g, lo, scale, num_groups)
    return _fit_atoms(bins, atoms, lo, scale, max_iter, tol, reg_covar,
                      min_samples, min_var, kmeans_iter)


def fit_gmm_binned(counts: Tensor,
                   sums: Tensor,
                   sumsq: Tensor,
                   lo: Tensor,
                   scale: Tensor,
                   max_iter: int = 10,
                   tol: float = 1e-2,
                   reg_covar: float = 5e-4,
                   min_samples: int = 8,
                   min_var: float = 1e-8,
                   kmeans_iter: int = 300) -> GMMParams:
    """Fit G two-component 1-D GMMs from per-bin sufficient statistics
    (Eq. 6-7), e.g. the streaming histograms of
    :class:`~mmbmix.models.utils.LossHistogram`.

    The same k-means seeding and EM as :func:`fit_gmm_1d` with ``num_bins``
    set; only the values' summary is given instead of the values.

    Args:
        counts (Tensor): ``(G, B)`` number of values in each bin.
        sums (Tensor): ``(G, B)`` sum of ``u = (value - lo) * scale`` over
            the values of each bin.
        sumsq (Tensor): ``(G, B)`` sum of ``u ** 2``.
        lo (Tensor): ``(G,)`` origin of each group's bin coordinates.
        scale (Tensor): ``(G,)`` bins per value unit of each group (> 0).
        max_iter, tol, reg_covar, min_samples, min_var, kmeans_iter: as in
            :func:`fit_gmm_1d`.

    Returns:
        GMMParams: float64 parameters in value units.
    """
    n, s1, s2 = (t.double() for t in (counts, sums, sumsq))
    if not n.shape == s1.shape == s2.shape or n.dim() != 2:
        raise ValueError('fit_gmm_binned: counts, sums and sumsq must be '
                         f'(G, B) alike, got {tuple(n.shape)}, '
                         f'{tuple(s1.shape)} and {tuple(s2.shape)}')
    lo, scale = lo.double(), scale.double()
    if lo.shape != (n.size(0), ) or scale.shape != lo.shape or \
            not bool((scale > 0).all()):
        raise ValueError('fit_gmm_binned: lo and scale must be (G,) with '
                         'scale > 0')
    centre = torch.arange(n.size(1), dtype=n.dtype, device=n.device) + 0.5
    mean = torch.where(n > 0, s1 / n.clamp_min(1e-300), centre)
    bins = _Atoms(n, s1, s2, mean, None, n.size(0))
    return _fit_atoms(bins, bins, lo, scale, max_iter, tol, reg_covar,
                      min_samples, min_var, kmeans_iter)


def _fit_atoms(bins, atoms, lo, scale, max_iter, tol, reg_covar, min_samples,
               min_var, kmeans_iter) -> GMMParams:
    """Which groups can be fit, k-means seeding from the bins, EM on the
    atoms (Eq. 7)."""
    totals = atoms.reduce(torch.stack([atoms.n, atoms.s1, atoms.s2]))
    count = totals[0].clamp_min(1)
    var = (totals[2] / count - (totals[1] / count)**2) / scale**2
    fitted = (totals[0] >= max(min_samples, 2)) & (var >= min_var)
    reg_u = reg_covar * scale**2
    seeds = _best_split(bins)
    resp0 = _kmeans_resp(atoms, totals, fitted, seeds, kmeans_iter)
    params_u = _m_step(atoms, totals, resp0, reg_u)
    params_u = _em(atoms, totals, params_u, fitted, reg_u, max_iter, tol)
    return _finalize(params_u, totals, lo, scale, fitted, reg_covar)


def gmm_posterior(values: Tensor, groups: Tensor, params: GMMParams) -> Tensor:
    """Posterior p_G of the smaller-mean component for each value (Eq. 8).

    p_G is made non-increasing in the value (docs/implementation_notes.md): a
    value at or above the noisy component's mean gets 0 (with a wider clean
    component the plain posterior rises again for very large losses), and below
    the vertex of a concave logit (a wider noisy component) p_G keeps its
    maximum. Elsewhere it is the plain two-Gaussian posterior, as sklearn's
    ``predict_proba``. Values of groups that were not fitted get 1.0 (too small
    or too uniform sets are clean); non-finite values (NaN/inf losses) get 0.0.
    The result is never NaN.

    Args:
        values (Tensor): ``(L,)`` values, e.g. BCE losses of the labels.
        groups (Tensor): ``(L,)`` integer group of each value, in
            ``[0, G)``.
        params (GMMParams): mixtures from :func:`fit_gmm_1d` (Eq. 6-7).

    Returns:
        Tensor: ``(L,)`` probabilities in [0, 1], in the dtype of ``values``
        (at least float32), on its device.
    """
    values, groups = values.reshape(-1), groups.reshape(-1)
    if values.shape != groups.shape:
        raise ValueError(f'gmm_posterior: values has shape '
                         f'{tuple(values.shape)} but groups has shape '
                         f'{tuple(groups.shape)}')
    dtype = torch.promote_types(values.dtype, torch.float32)
    shift, a, b, c, lo, hi = _posterior_table(params, dtype, values.device)
    prob = torch.empty(values.shape, dtype=dtype, device=values.device)

    def part(ch: slice) -> None:
        g, t = groups[ch], values[ch].to(dtype)
        if shift is not None:  # t = value - mean of component 0
            t = t - torch.index_select(shift, 0, g)
        upper = torch.index_select(hi, 0, g)
        noisy = t >= upper  # at or above the noisy mean: never clean
        t = torch.maximum(t, torch.index_select(lo, 0, g))
        out = torch.index_select(a, 0, g, out=prob[ch])
        buf = torch.index_select(b, 0, g)
        out = torch.addcmul(buf, out, t, out=out)  # a t + b
        buf = torch.index_select(c, 0, g, out=buf)
        torch.addcmul(buf, out, t, out=out)  # (a t + b) t + c
        out.sigmoid_()  # logit p_G = (a t + b) t + c
        out.masked_fill_(noisy, 0.0)

    _map(part, _chunks(len(values), values.device))
    # Finite values and finite a, b make no NaN (c = inf only where
    # a = b = 0): the pass over p_G is needed only otherwise.
    finite_table = bool(torch.isfinite(torch.stack([a, b])).all())
    if values.numel() and not torch.isfinite(values.sum()):
        prob.masked_fill_(~torch.isfinite(values), 0.0)
        finite_table = False
    return prob if finite_table else torch.nan_to_num_(prob, nan=0.0)


def bic_prefers_two(values: Tensor, groups: Tensor, params: GMMParams,
                    num_groups: int) -> Tensor:
    """Whether two components explain each group better than one, by BIC.

    ``BIC = -2 log L + p log n`` with ``p = 5`` for the fitted mixture and
    ``p = 2`` for one Gaussian (the group's own mean and variance). An
    optional extension of the "too uniform to fit" rule: a set that
    one Gaussian explains as well is not split into clean and noisy.

    Args:
        values (Tensor): ``(L,)`` values the mixtures were fit to.
        groups (Tensor): ``(L,)`` group of each value.
        params (GMMParams): the fitted mixtures.
        num_groups (int): G.

    Returns:
        Tensor: ``(G,)`` bool, False for unfitted groups.
    """
    x, g = _finite(values.reshape(-1), groups.reshape(-1))
    x = x.double()
    mu, var, w = (t.double().to(x.device) for t in params[:3])
    ll2 = torch.logsumexp(
        w[g].log() - 0.5 * (_LOG_2PI + var[g].log()) -
        (x.unsqueeze(1) - mu[g])**2 / (2 * var[g]),
        dim=1)
    zeros = torch.zeros(num_groups, dtype=x.dtype, device=x.device)
    n = zeros.index_add(0, g, torch.ones_like(x))
    mean = zeros.index_add(0, g, x) / n.clamp_min(1)
    v1 = zeros.index_add(0, g, (x - mean[g])**2) / n.clamp_min(1)
    v1 = v1 + 1e-12
    ll1 = -0.5 * n * (_LOG_2PI + v1.log() + 1)
    bic2 = -2 * zeros.index_add(0, g, ll2) + 5 * n.clamp_min(1).log()
    bic1 = -2 * ll1 + 2 * n.clamp_min(1).log()
    return params.fitted.to(x.device) & (bic2 < bic1)


# ---------------------------------------------------------------- inputs


def _check_inputs(values, groups, num_groups, max_iter, tol, reg_covar,
                  num_bins):
    if values.numel() != groups.numel():
        raise ValueError(f'fit_gmm_1d: values has {values.numel()} elements '
                         f'but groups has {groups.numel()}')
    if groups.is_floating_point() or groups.dtype == torch.bool:
        raise ValueError(f'fit_gmm_1d: groups must be integer, got '
                         f'{groups.dtype}')
    if num_groups < 0 or max_iter < 1 or tol < 0 or reg_covar < 0:
        raise ValueError(
            f'fit_gmm_1d: bad num_groups={num_groups}, max_iter={max_iter}, '
            f'tol={tol} or reg_covar={reg_covar}')
    if num_bins is not None and num_bins < 1:
        raise ValueError(f'fit_gmm_1d: num_bins must be >= 1 or None, got '
                         f'{num_bins}')
    # On CPU the scatter of _group_range checks the range (fit_gmm_1d then
    # names it) without a separate aminmax pass.
    if groups.numel() and groups.device.type != 'cpu':
        _check_group_range(groups, num_groups)


def _check_group_range(groups: Tensor, num_groups: int) -> None:
    gmin, gmax = torch.aminmax(groups.reshape(-1))
    if gmin < 0 or gmax >= num_groups:
        raise ValueError(f'fit_gmm_1d: groups must lie in [0, '
                         f'{num_groups}), got [{int(gmin)}, {int(gmax)}]')


def _finite(x: Tensor, g: Tensor):
    """Drop NaN/inf values (cheap check first: one reduction)."""
    if x.numel() and not torch.isfinite(x.sum()):
        keep = torch.isfinite(x)
        x, g = x[keep], g[keep]
    return x, g.long()


def _group_range(x: Tensor, g: Tensor, num_groups: int):
    """Per-group min and max - min of the values, float64."""

    def part(c: slice):
        hi = torch.full((num_groups, ),
                        -math.inf,
                        dtype=x.dtype,
                        device=x.device)
        lo = torch.full_like(hi, math.inf)
        hi.scatter_reduce_(0, g[c], x[c], 'amax')
        lo.scatter_reduce_(0, g[c], x[c], 'amin')
        return lo, hi

    parts = _map(part, _chunks(len(x), x.device))
    lo = torch.stack([p[0] for p in parts]).amin(0)
    hi = torch.stack([p[1] for p in parts]).amax(0)
    empty = torch.isinf(lo)
    lo = lo.double().masked_fill(empty, 0)
    return lo, hi.double().masked_fill(empty, 0) - lo


# ---------------------------------------------------------------- atoms
# An "atom" summarises some values of one group by (count, sum, sum of
# squares) in the group's coordinates u = (x - lo) * scale: either a single
# value (exact EM: ragged layout (L,) with a group index) or one bin (binned
# EM: dense layout (G, num_bins)). ``reduce`` sums atoms into their groups and
# ``expand`` broadcasts per-group tensors to the atoms, in either layout.


class _Atoms(NamedTuple):
    n: Tensor  # count
    s1: Tensor  # sum of u
    s2: Tensor  # sum of u**2
    mean: Tensor  # s1 / n (bin centre for empty bins)
    group: Optional[Tensor]  # (L,) group index; None for the dense layout
    num_groups: int

    def reduce(self, src: Tensor) -> Tensor:
        """(..., atoms) -> (..., G) sums over the atoms of each group."""
        if self.group is None:
            return src.sum(-1)
        out = src.new_zeros(src.shape[:-1] + (self.num_groups, ))
        return out.index_add_(-1, self.group, src)

    def expand(self, t: Tensor) -> Tensor:
        """(..., G) -> (..., atoms)."""
        if self.group is None:
            return t.unsqueeze(-1)
        return t.index_select(-1, self.group)

    def rows(self, rows: Tensor) -> '_Atoms':
        """The atoms of groups ``rows`` only, renumbered 0..len(rows)-1."""
        if len(rows) == self.num_groups:
            return self
        if self.group is None:
            n, s1, s2, mean = (t.index_select(0, rows) for t in self[:4])
            return _Atoms(n, s1, s2, mean, None, len(rows))
        new_id = torch.full((self.num_groups, ), -1, device=rows.device)
        new_id[rows] = torch.arange(len(rows), device=rows.device)
        group = new_id[self.group]
        keep = group >= 0
        n, s1, s2, mean = (t[keep] for t in self[:4])
        return _Atoms(n, s1, s2, mean, group[keep], len(rows))


def _value_atoms(x, g, lo, scale, num_groups) -> _Atoms:
    u = (x - lo.index_select(0, g)) * scale.index_select(0, g)
    return _Atoms(torch.ones_like(u), u, u * u, u, g, num_groups)


def _bin_atoms(x, g, lo, scale, num_groups, num_bins, clamp=True) -> _Atoms:
    """Per-bin count, sum and sum of squares of the positions ``u = (x -
    lo) * scale`` in bins; one pass, few allocations. The one binning
    kernel: :func:`fit_gmm_1d` (``clamp``: positions clamped into the
    range) and :class:`LossHistogram` (``clamp=False``: a value outside the
    range is counted in the end bin with its own position, so the sums stay
    exact)."""
    # rows of num_bins + 16: a power-of-two row stride maps bin j of every
    # group to the same cache set and makes the scatter 3x slower on CPU
    stride = num_bins + 16
    size = num_groups * stride
    # float32 sums are exact for counts below 2**24 and accurate for frac
    dtype = x.dtype if x.numel() < 2**24 else torch.float64
    lo, scale = lo.to(x.dtype), scale.to(x.dtype)

    small = size < 2**31
    top = num_bins * (1 - 4 * torch.finfo(x.dtype).eps)  # floor(top) < bins

    def part(c: slice) -> Tensor:
        xc, gc = x[c], g[c]
        if small:  # int32 indices: half the memory traffic of int64
            gc = gc.to(torch.int32)
        u = torch.index_select(lo, 0, gc)
        u = torch.sub(xc, u, out=u)
        k = torch.index_select(scale, 0, gc)
        u.mul_(k)  # position in bins
        if clamp:  # overflow
            u.clamp_(0, top)
        k = torch.floor(u if clamp else u.clamp(0, top), out=k)  # bin
        frac = u.sub_(k)  # position inside the bin ([0, 1) when clamped)
        idx = k.to(gc.dtype).add_(gc, alpha=stride)
        sums = torch.zeros(3, size, dtype=dtype, device=x.device)
        sums[0].index_add_(
            0, idx,
            torch.ones_like(frac[:1], dtype=dtype).expand_as(frac))
        sums[1].index_add_(0, idx, frac.to(dtype))
        sums[2].index_add_(0, idx, frac.mul_(frac).to(dtype))
        return sums

    parts = _map(part, _chunks(len(x), x.device))
    sums = parts[0].double()
    for more in parts[1:]:
        sums += more
    n, s1f, s2f = sums.view(3, num_groups, stride)[..., :num_bins]
    left = torch.arange(num_bins, dtype=torch.float64, device=x.device)
    s1 = s1f + left * n
    s2 = s2f + 2 * left * s1f + left * left * n
    mean = torch.where(n > 0, s1 / n.clamp_min(1), left + 0.5)
    return _Atoms(n, s1, s2, mean, None, num_groups)


def _best_split(bins: _Atoms) -> Tensor:
    """(2, G) k-means seeds: centres of the best 2-means split between bins.

    In 1-D the globally optimal 2-means partition is a threshold; scanning
    the thresholds between bins with cumulative sums finds it at bin
    resolution (sklearn's k-means++ is random and usually lands there too;
    min/max seeding can get stuck on a lone outlier).
    """
    n_left = bins.n.cumsum(1)[:, :-1]
    s_left = bins.s1.cumsum(1)[:, :-1]
    n_all, s_all = bins.n.sum(1, keepdim=True), bins.s1.sum(1, keepdim=True)
    n_right, s_right = n_all - n_left, s_all - s_left
    valid = (n_left > 0) & (n_right > 0)
    m_left = s_left / n_left.clamp_min(1)
    m_right = s_right / n_right.clamp_min(1)
    # between-cluster sum of squares; maximising it minimises the SSE
    gain = n_left * n_right / n_all.clamp_min(1) * (m_right - m_left)**2
    best = gain.masked_fill(~valid, -1).argmax(1, keepdim=True)
    mean = (s_all / n_all.clamp_min(1)).squeeze(1)
    c0 = torch.where(valid.any(1), m_left.gather(1, best).squeeze(1), mean)
    c1 = torch.where(valid.any(1), m_right.gather(1, best).squeeze(1), mean)
    return torch.stack([c0, c1])


def _kmeans_resp(a: _Atoms, totals: Tensor, fitted: Tensor, seeds: Tensor,
                 max_iter: int) -> Tensor:
    """One-hot responsibility of component 0 from 2-means (Lloyd) per group.

    Starts from ``seeds`` (see :func:`_best_split`) and stops when no group's
    split changes (in 1-D the split is a threshold, so equal counts mean
    equal splits), as sklearn's KMeans with ``n_init=1``.
    """
    c0, c1 = seeds
    prev = torch.full_like(c0, -1.0)
    for _ in range(max(max_iter, 1)):
        upper = (a.mean > a.expand((c0 + c1) / 2)).double()
        n1, s1 = a.reduce(torch.stack([a.n * upper, a.s1 * upper]))
        n0 = totals[0] - n1
        c1 = torch.where(n1 > 0, s1 / n1.clamp_min(1e-300), c1)
        c0 = torch.where(n0 > 0, (totals[1] - s1) / n0.clamp_min(1e-300), c0)
        if torch.equal(n1[fitted], prev[fitted]):
            break
        prev = n1
    return 1.0 - upper


# ---------------------------------------------------------------- EM


def _m_step(a: _Atoms, totals: Tensor, resp0: Tensor, reg_u: Tensor) -> Tensor:
    """sklearn's M-step for both components; returns (3, 2, G): w, mu, var."""
    sums0 = a.reduce(torch.stack([a.n, a.s1, a.s2]) * resp0)
    n, s1, s2 = torch.stack([sums0, totals - sums0], dim=1)  # (2, G) each
    nk = n.clamp_min(0) + _EPS10
    mu = s1 / nk
    var = ((s2 - 2 * mu * s1 + mu * mu * n) / nk).clamp_min(0) + reg_u
    var = var.clamp_min(torch.finfo(torch.float64).tiny)
    return torch.stack([nk / nk.sum(0), mu, var])


def _e_step(a: _Atoms, p: Tensor):
    """Responsibility of component 0 and log-likelihood at each atom mean."""
    w, mu, var = p
    const = a.expand(w.log() - 0.5 * (_LOG_2PI + var.log()))
    diff = a.mean - a.expand(mu)
    logp = const - diff * diff * a.expand(0.5 / var)
    logit = logp[0] - logp[1]
    # log(p0 + p1) = max(log p) - log(sigmoid(|logit|)), vectorised ops only
    loglik = torch.maximum(logp[0], logp[1]) - logit.abs().sigmoid_().log_()
    return logit.sigmoid_(), loglik


def _em(a: _Atoms, totals: Tensor, p: Tensor, fitted: Tensor, reg_u: Tensor,
        max_iter: int, tol: float) -> Tensor:
    """EM with sklearn's stopping rule, applied group by group.

    Each iteration works on the groups that have not converged yet only.
    """
    active = fitted.clone()
    lower = torch.full_like(reg_u, -math.inf)
    p = p.clone()
    for _ in range(max_iter):
        rows = active.nonzero().squeeze(1)
        if not len(rows):
            break
        sub, sub_totals = a.rows(rows), totals[:, rows]
        resp0, loglik = _e_step(sub, p[..., rows])
        new_lower = sub.reduce(sub.n * loglik) / sub_totals[0].clamp_min(1)
        p[..., rows] = _m_step(sub, sub_totals, resp0, reg_u[rows])
        done = (new_lower - lower[rows]).abs() < tol
        lower[rows] = new_lower
        active[rows[done]] = False
    return p


def _finalize(p: Tensor, totals: Tensor, lo: Tensor, scale: Tensor,
              fitted: Tensor, reg_covar: float) -> GMMParams:
    """Back to value units, order components by mean, fill unfitted groups."""
    w, mu, var = p
    mu = lo + mu / scale
    var = var / scale**2
    swap = mu[0] > mu[1]
    w, mu, var = (torch.where(swap, t.flip(0), t) for t in (w, mu, var))
    ok = fitted & torch.isfinite(torch.cat([w, mu, var])).all(0)
    count = totals[0].clamp_min(1)
    gmean = lo + totals[1] / count / scale
    gvar = (totals[2] / count - (totals[1] / count)**2).clamp_min(0)
    gvar = gvar / scale**2 + reg_covar
    w = torch.where(ok, w, torch.full_like(w, 0.5))
    mu = torch.where(ok, mu, gmean)
    var = torch.where(ok, var, gvar.clamp_min(torch.finfo(torch.float64).tiny))
    return GMMParams(mu.T.contiguous(), var.T.contiguous(), w.T.contiguous(),
                     ok)


def _rounding_error(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """Relative rounding error of (a x + b) x + c where it crosses 0.

    The sum of the magnitudes of the terms, at the real roots (at the vertex
    when there are none): there p_G is near 0.5 and most sensitive. Far from
    the roots the logit is large and p_G saturates.
    """
    disc = b * b - 4 * a * c
    q = -0.5 * (b + torch.where(b < 0, -1.0, 1.0) * disc.clamp_min(0).sqrt())
    roots = torch.stack([q / a, c / q, -b / (2 * a), -c / b])
    quadratic = a != 0
    use = torch.stack([(disc >= 0) & quadratic, (disc >= 0) & quadratic,
                       (disc < 0) & quadratic, ~quadratic])
    terms = a.abs() * roots**2 + (b * roots).abs() + c.abs()
    return torch.where(use, terms, 0.0).amax(0)


def _posterior_table(p: GMMParams, dtype: torch.dtype, device):
    """Coefficients of logit p_G = (a t + b) t + c per group (Eq. 8).

    ``t`` is the value itself when the quadratic is well conditioned in
    ``dtype`` (rounding error of the logit below 1e-4 where p_G = 0.5; saves
    a gather and a subtraction per value), else the value minus the mean of
    component 0 (returned as ``shift``; e.g. values far from 0 with a small
    spread). Unfitted groups get a = b = 0, c = inf, i.e. p_G = 1.

    Returns:
        tuple: ``shift`` (G,) or None; ``a``, ``b``, ``c`` (G,); and the
        bounds ``lo``, ``hi`` (G,) of the monotone envelope in the frame of
        ``t``; in ``dtype`` on ``device``.
    """
    mu0, mu1 = p.means.double().unbind(1)
    v0, v1 = p.variances.double().unbind(1)
    w0, w1 = p.weights.double().unbind(1)
    fitted = p.fitted.to(mu0.device)
    delta = mu1 - mu0
    a = 0.5 / v1 - 0.5 / v0
    b = -delta / v1
    c = (
        delta * delta / (2 * v1) + w0.log() - w1.log() - 0.5 *
        (v0.log() - v1.log()))
    # the same quadratic in x: a x^2 + b_x x + c_x
    b_x = b - 2 * a * mu0
    c_x = (a * mu0 - b) * mu0 + c
    error = _rounding_error(a, b_x, c_x) * torch.finfo(dtype).eps
    shift = None
    if not bool((error[fitted] <= 1e-4).all()):
        shift = torch.where(fitted, mu0, 0.0)
    else:
        b, c = b_x, c_x
    # Monotone envelope, in the frame of t: values are clamped from below at
    # the vertex of a concave logit (a < 0: its maximum lies left of the
    # clean mean), and p_G is 0 from the noisy mean (t = hi) on.
    origin = torch.zeros_like(mu0) if shift is not None else mu0
    vertex = -0.5 * b / torch.where(a < 0, a, -1.0)
    lo = torch.where(fitted & (a < 0), vertex, -math.inf)
    hi = torch.where(fitted, origin + delta, math.inf)
    a, b = (torch.where(fitted, t, 0.0) for t in (a, b))
    c = torch.where(fitted, c, math.inf)
    return tuple(None if t is None else t.to(device, dtype)
                 for t in (shift, a, b, c, lo, hi))
