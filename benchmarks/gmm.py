"""Benchmark the batched GMM of BalanceMix (Eq. 6-8) against sklearn.

COCO scale: N instances x K classes of BCE-like losses; the labels of class k
split into positives and negatives, giving 2K mixtures, each fit with a
two-component 1-D GMM. Ours fits all of them at once
(``mmbmix.models.utils.fit_gmm_1d`` + ``gmm_posterior``); the baseline loops
over the 2K sets with ``sklearn.mixture.GaussianMixture(2, max_iter=10,
tol=1e-2, reg_covar=5e-4)`` + ``predict_proba``.

Usage::

    python benchmarks/gmm.py [--device cuda] [--repeats 5]

Writes ``benchmarks/results/gmm.json``.

Transparent huge pages are enabled for torch's CPU allocations
(``THP_MEM_ALLOC_ENABLE=1``, a PyTorch setting; numpy, hence sklearn, already
asks for them) unless ``THP_MEM_ALLOC_ENABLE`` is already set: without them
every large temporary tensor costs page faults, about a quarter of our time.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import time
import warnings

os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')  # before importing torch

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from mmbmix.models.utils import fit_gmm_1d, gmm_posterior  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--n', type=int, default=82081, help='instances')
    parser.add_argument('--k', type=int, default=80, help='classes')
    parser.add_argument(
        '--pos-rate',
        type=float,
        default=0.036,
        help='mean positive rate (geometric over classes)')
    parser.add_argument(
        '--noise',
        type=float,
        default=0.2,
        help='fraction of losses from the noisy mode')
    parser.add_argument(
        '--repeats',
        type=int,
        default=9,
        help='timed runs of ours (median reported)')
    parser.add_argument(
        '--sklearn-repeats',
        type=int,
        default=3,
        help='timed runs of the sklearn loop')
    parser.add_argument(
        '--num-bins',
        type=int,
        default=256,
        help='bins per group; 0 = exact per-value EM')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument(
        '--threads',
        type=int,
        default=0,
        help='CPU threads for torch and sklearn (0: default)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--out',
        default=osp.join(
            osp.dirname(osp.abspath(__file__)), 'results', 'gmm.json'))
    return parser.parse_args()


def make_losses(n, k, pos_rate, noise, seed):
    """Long-tailed labels and losses with a clean and a noisy mode.

    Returns float32 values (n * k,) and groups (n * k,): ``c`` for the
    negatives of class c, ``k + c`` for its positives.
    """
    rng = np.random.default_rng(seed)
    rates = np.geomspace(0.2, 0.002, k)
    rates *= pos_rate / rates.mean()
    labels = rng.random((n, k)) < rates
    noisy = rng.random((n, k)) < noise
    clean_loss = rng.exponential(0.05, (n, k))
    noisy_loss = np.abs(rng.normal(2.5, 0.7, (n, k)))
    values = np.where(noisy, noisy_loss, clean_loss).astype(np.float32)
    groups = (np.arange(k)[None, :] + k * labels).ravel()
    return values.ravel(), groups, labels.mean()


def _cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'cpu'


def _clock():
    return time.perf_counter(), time.process_time()


def _since(start):
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def run_ours(values, groups, num_groups, num_bins, device):
    """Fit + posterior; returns ((wall, cpu) seconds, p_G)."""
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    sync()
    start = _clock()
    params = fit_gmm_1d(values, groups, num_groups, num_bins=num_bins)
    post = gmm_posterior(values, groups, params)
    sync()
    return _since(start), post


def run_sklearn(sets, seed):
    """Loop over the sets: fit + predict_proba; ((wall, cpu), p_G)."""
    start = _clock()
    posts = []
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ConvergenceWarning)
        for x in sets:
            x = x[:, None]
            gm = GaussianMixture(
                2, max_iter=10, tol=1e-2, reg_covar=5e-4,
                random_state=seed).fit(x)
            posts.append(gm.predict_proba(x)[:, np.argmin(gm.means_[:, 0])])
    return _since(start), np.concatenate(posts)


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)  # numpy BLAS and sklearn's OpenMP
    device = torch.device(args.device)
    num_bins = args.num_bins or None
    values, groups, realized_rate = make_losses(args.n, args.k, args.pos_rate,
                                                args.noise, args.seed)
    num_groups = 2 * args.k
    v = torch.from_numpy(values).to(device)
    g = torch.from_numpy(groups).to(device)

    order = np.argsort(groups, kind='stable')
    counts = np.bincount(groups, minlength=num_groups)
    sets = np.split(values[order].astype(np.float64), np.cumsum(counts)[:-1])

    # interleave the runs so that both see the same machine load
    run_ours(v, g, num_groups, num_bins, device)  # warm-up
    ours, skl = [], []
    for i in range(max(args.repeats, args.sklearn_repeats)):
        if i < args.sklearn_repeats:
            skl.append(run_sklearn(sets, args.seed))
        per_round = -(-args.repeats // max(args.sklearn_repeats, 1))
        for _ in range(min(per_round, args.repeats - len(ours))):
            ours.append(run_ours(v, g, num_groups, num_bins, device))
    post = ours[-1][1].cpu().numpy()
    skl_post = np.empty(len(values))
    skl_post[order] = skl[-1][1]
    ours_times = [t[0] for t, _ in ours]
    skl_times = [t[0] for t, _ in skl]
    ours_cpu = statistics.median(t[1] for t, _ in ours)
    skl_cpu = statistics.median(t[1] for t, _ in skl)

    agreement = float(((post > 0.5) == (skl_post > 0.5)).mean())
    gmm_s = statistics.median(ours_times)
    skl_s = statistics.median(skl_times)
    result = dict(
        gmm_seconds=gmm_s,
        sklearn_seconds=skl_s,
        speedup=skl_s / gmm_s,
        agreement=agreement,
        gmm_cpu_seconds=ours_cpu,
        sklearn_cpu_seconds=skl_cpu,
        cpu_speedup=skl_cpu / ours_cpu,
        max_abs_posterior_diff=float(np.abs(post - skl_post).max()),
        n=args.n,
        k=args.k,
        num_values=len(values),
        num_mixtures=num_groups,
        positive_rate=float(realized_rate),
        noise=args.noise,
        num_bins=num_bins,
        repeats=args.repeats,
        sklearn_repeats=args.sklearn_repeats,
        gmm_times=ours_times,
        sklearn_times=skl_times,
        device=(torch.cuda.get_device_name(device)
                if device.type == 'cuda' else _cpu_name()),
        device_type=device.type,
        threads=torch.get_num_threads(),
        thp_mem_alloc=os.environ.get('THP_MEM_ALLOC_ENABLE'),
        cpu_count=os.cpu_count(),
        load_average=os.getloadavg()[0],
        torch_version=torch.__version__,
        sklearn_version=sklearn.__version__,
    )
    rows = [('values (N*K)', f'{len(values):,}'),
            ('mixtures (2K)', str(num_groups)),
            ('positive rate', f'{realized_rate:.4f}'),
            ('device', f'{device.type} ({result["device"]}), '
             f'{result["threads"]} threads'),
            (f'ours: median of {args.repeats}', f'{gmm_s * 1e3:.1f} ms'),
            (f'sklearn loop: median of {args.sklearn_repeats}',
             f'{skl_s:.2f} s'), ('speedup (wall)', f'{skl_s / gmm_s:.1f}x'),
            ('speedup (process CPU time)', f'{skl_cpu / ours_cpu:.1f}x'),
            ('decision agreement', f'{agreement:.5%}'),
            ('max |p_G - sklearn|', f'{result["max_abs_posterior_diff"]:.2e}')]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f'{name:<{width}}  {value}')
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
