"""Minority sampler cost at scale (issue: performance, target 3).

Measures, medians of ``--repeats`` runs:
- drawing one epoch of minority indices (N draws with replacement, Eq. 4)
  for N instances, through ``DualBatchSampler.minority_indices``;
- updating the sampling probabilities from new statistics (Eq. 2-4:
  ``class_confidence`` -> ``instance_score`` -> ``sampling_probs``) for
  an N x K confidence matrix, vectorised (no Python loop);
and, as the baseline measured in the same run, ``torch.multinomial`` on the
same probabilities (where it supports N).

Usage: python benchmarks/sampler.py [--n 1000000] [--k 80] [--repeats 5]
Writes benchmarks/results/sampler.json.
"""
import argparse
import json
import os.path as osp
import statistics
import time

import torch

from mmbmix.datasets import DualBatchSampler
from mmbmix.models.utils import (class_confidence, instance_score,
                                 sampling_probs)


class _Sized:

    def __init__(self, n):
        self.dataset = range(n)

    def __len__(self):
        return len(self.dataset)

    def __iter__(self):
        return iter(range(len(self.dataset)))


def timeit(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=1_000_000)
    parser.add_argument('--k', type=int, default=80)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument(
        '--out',
        default=osp.join(osp.dirname(__file__), 'results', 'sampler.json'))
    args = parser.parse_args()
    torch.manual_seed(0)
    n, k = args.n, args.k
    rates = torch.logspace(-0.5, -3, k)  # long-tailed positive rates
    labels = torch.rand(n, k) < rates
    conf = torch.rand(n, k)

    def update():
        P, A = class_confidence(conf, labels)
        return sampling_probs(instance_score(labels, P, A))

    probs = update()
    sampler = DualBatchSampler(_Sized(n), batch_size=64, seed=0)
    sampler.set_sampling_probs(probs)
    draw_s = timeit(lambda: sampler.minority_indices(n), args.repeats)
    set_s = timeit(lambda: sampler.set_sampling_probs(probs), args.repeats)
    update_s = timeit(update, args.repeats)
    multinomial_s = timeit(
        lambda: torch.multinomial(probs, n, replacement=True), args.repeats)
    result = dict(
        n=n,
        k=k,
        repeats=args.repeats,
        draw_epoch_seconds=draw_s,
        set_probs_seconds=set_s,
        update_probs_seconds=update_s,
        torch_multinomial_seconds=multinomial_s,
        draw_vs_multinomial=multinomial_s / draw_s,
        torch=torch.__version__,
        threads=torch.get_num_threads())
    print(f'| what (N={n:,}, K={k}) | median seconds |')
    print('| --- | --- |')
    print(
        f'| draw one epoch of minority indices (searchsorted) | {draw_s:.4f} |'
    )
    print(f'| torch.multinomial, same draw (baseline) | {multinomial_s:.4f} |')
    print(f'| set_sampling_probs (cumsum) | {set_s:.4f} |')
    print(
        f'| Eq. 2-4 update from an N x K confidence matrix | {update_s:.4f} |')
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)


if __name__ == '__main__':
    main()
