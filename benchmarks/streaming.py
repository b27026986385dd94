"""Open Images-scale label management without a dense N x K table (target 4).

Simulates one epoch of the streaming design at N = 9,000,000 images and
K = 9,605 classes (N x K = 86 billion labels) with synthetic losses:

- per training batch (B images x K classes, what the model outputs anyway):
  add the per-label BCE losses to :class:`mmbmix.models.utils.LossHistogram`
  (2K sets x ``num_bins`` bins, Eq. 6) and the per-class sums of Eq. 2;
- at the end of the epoch: one all-reduce of those buffers (their size is
  reported), fit the 2K mixtures from the histograms (Eq. 7), compute Score
  and the sampling probabilities (Eq. 3-4) from the sparse positive labels
  (CSR, as annotation files give them) and build the sampler's CDF;
- per batch of the next epoch: ``p_G`` of the batch's labels from the fitted
  mixtures (Eq. 8), the re-labeling rule on the batch's two views (Eq. 9)
  and the Eq. 10 weights.

A full epoch is 35,157 batches of 256; the per-batch steps are timed on
``--batches`` batches (median) and multiplied by the number of batches (so
the epoch figures are extrapolated from measured per-batch times, and say
so); the end-of-epoch steps run once at full size. Memory is the bytes of
every buffer the design keeps, and the process's peak RSS. Beside each
per-batch time is the forward of the classifier layer alone (2048 -> K, the
smallest part of any model that produces these logits), timed in the same
run, and ResNet-50's forward + backward at 448 px (timed on 2 images and
scaled to the batch: the cost any real model pays per batch).

Usage: python benchmarks/streaming.py [--batches 20] [--num-bins 128]
Writes ``benchmarks/results/streaming.json``.
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import time

os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')  # before importing torch

import torch  # noqa: E402

from mmbmix.models.utils import LossHistogram, batch_clean_prob  # noqa: E402
from mmbmix.models.utils.label_refinery import label_weights  # noqa: E402
from mmbmix.models.utils.label_refinery import relabel  # noqa: E402
from mmbmix.models.utils.minority_score import sampling_probs  # noqa: E402

HERE = osp.dirname(osp.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=9_000_000)
    p.add_argument('--k', type=int, default=9605)
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument(
        '--batches',
        '--repeats',
        type=int,
        default=20,
        help='batches timed per per-batch step (median)')
    p.add_argument('--num-bins', type=int, default=128)
    p.add_argument(
        '--positives',
        type=float,
        default=8.0,
        help='mean positive labels per image')
    p.add_argument(
        '--skip-backbone',
        action='store_true',
        help='do not time the ResNet-50 reference')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument(
        '--out', default=osp.join(HERE, 'results', 'streaming.json'))
    return p.parse_args()


def class_rates(k, positives):
    """Long-tailed positive rate per class, mean ``positives / k``."""
    rates = torch.logspace(-1, -5, k, dtype=torch.float64)
    return (rates * positives / rates.sum()).clamp(max=0.5)


def make_batch(b, rates, gen):
    """Labels, two views' sigmoid outputs and BCE losses of one batch.

    Confidences have a clean mode (near the label) and a noisy one (20% of
    the labels, near the opposite), as after a warm-up.
    """
    k = len(rates)
    labels = torch.rand(b, k, generator=gen) < rates.float()
    noisy = torch.rand(b, k, generator=gen) < 0.2
    sign = torch.where(labels ^ noisy, 1.0, -1.0)
    views = [
        torch.sigmoid(sign * 3 + torch.randn(b, k, generator=gen))
        for _ in range(2)
    ]
    p = views[0].clamp(1e-7, 1 - 1e-7)
    losses = -torch.where(labels, p.log(), (1 - p).log())
    return labels, views, losses


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def backbone_seconds(batch_size, images=2, repeats=3):
    """ResNet-50 forward + backward at 448 px, per batch of
    ``batch_size``: measured on ``images`` images, scaled linearly."""
    from torchvision.models import resnet50
    model = resnet50(num_classes=9605)
    x = torch.randn(images, 3, 448, 448)

    def step():
        model(x).sum().backward()

    step()  # warm-up
    return median_time(step, repeats) * batch_size / images


def sparse_positives(n, rates, gen, chunk=1_000_000):
    """CSR-like (row, col) of the positive labels of N images."""
    rows, cols = [], []
    k = len(rates)
    cdf = torch.cumsum(rates / rates.sum(), 0)
    per_image = float(rates.sum())
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        counts = torch.poisson(torch.full((m, ), per_image), generator=gen)
        counts = counts.long().clamp(max=k)
        r = torch.repeat_interleave(torch.arange(start, start + m), counts)
        u = torch.rand(len(r), generator=gen, dtype=torch.float64)
        rows.append(r.int())
        cols.append(torch.searchsorted(cdf, u).clamp(max=k - 1).int())
    return torch.cat(rows), torch.cat(cols)


def main():
    args = parse_args()
    gen = torch.Generator().manual_seed(args.seed)
    n, k, b = args.n, args.k, args.batch_size
    num_batches = -(-n // b)
    rates = class_rates(k, args.positives)
    pool = [make_batch(b, rates, gen) for _ in range(4)]

    hist = LossHistogram(k, num_bins=args.num_bins)
    class_sums = torch.zeros(4, k, dtype=torch.float64)  # Eq. 2 sums

    def collect(i=[0]):
        labels, views, losses = pool[i[0] % len(pool)]
        i[0] += 1
        hist.update(losses, labels)
        # Eq. 2 sums: float32 over the batch, float64 over the epoch
        conf = views[0]
        pos_conf = torch.where(labels, conf, 0.0).sum(0).double()
        pos = labels.sum(0).double()
        class_sums[0] += pos_conf
        class_sums[1] += pos
        class_sums[2] += (len(conf) - pos) - (conf.sum(0).double() - pos_conf)
        class_sums[3] += len(conf) - pos

    layer = torch.nn.Linear(2048, k)
    feats = torch.randn(b, 2048, generator=gen)
    with torch.no_grad():
        fc_s = median_time(lambda: layer(feats), args.batches)
    backbone_s = None if args.skip_backbone else backbone_seconds(b)
    collect_s = median_time(collect, args.batches)

    # end of epoch: one all-reduce buffer, the fit, scores, sampler CDF
    allreduce_bytes = hist.stats.numel() * 8 + class_sums.numel() * 8 + \
        2 * 2 * k * 4
    start = time.perf_counter()
    params = hist.fit()
    fit_s = time.perf_counter() - start

    rows, cols = sparse_positives(n, rates, gen)
    start = time.perf_counter()
    P = class_sums[0] / class_sums[1].clamp_min(1)
    A = class_sums[2] / class_sums[3].clamp_min(1)
    # Score = sum_k A(k) + sum over positives (P(k) - A(k))   (Eq. 3)
    score = torch.full((n, ), float(A.sum()), dtype=torch.float64)
    score.index_add_(0, rows.long(), (P - A)[cols.long()])
    probs = sampling_probs(score)  # Eq. 4
    cdf = torch.cumsum(probs, 0)
    score_s = time.perf_counter() - start
    start = time.perf_counter()
    torch.searchsorted(cdf,
                       torch.rand(n // 2, generator=gen, dtype=torch.float64))
    draw_s = time.perf_counter() - start

    def manage(i=[0]):
        labels, views, losses = pool[i[0] % len(pool)]
        i[0] += 1
        p_g = batch_clean_prob(losses, labels, params)  # Eq. 8
        clean = p_g > 0.5
        refined, relabeled = relabel((views[0] + views[1]) / 2, labels, clean,
                                     0.975)  # Eq. 9
        return label_weights(clean, relabeled, p_g), refined  # Eq. 10

    manage_s = median_time(manage, args.batches)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    memory = dict(
        histograms_mb=hist.nbytes / 2**20,
        class_sums_mb=class_sums.numel() * 8 / 2**20,
        mixtures_mb=sum(t.numel() * t.element_size() for t in params) / 2**20,
        sampling_probs_mb=probs.numel() * probs.element_size() / 2**20,
        sampler_cdf_mb=cdf.numel() * cdf.element_size() / 2**20,
        positive_labels_csr_mb=(rows.numel() + cols.numel()) * 4 / 2**20)
    result = dict(
        n=n,
        k=k,
        labels=n * k,
        batch_size=b,
        batches_per_epoch=num_batches,
        num_bins=args.num_bins,
        positives=int(rows.numel()),
        timed_batches=args.batches,
        collect_seconds_per_batch=collect_s,
        manage_seconds_per_batch=manage_s,
        classifier_layer_seconds_per_batch=fc_s,
        resnet50_448_fwd_bwd_seconds_per_batch_scaled=backbone_s,
        collect_epoch_seconds_extrapolated=collect_s * num_batches,
        manage_epoch_seconds_extrapolated=manage_s * num_batches,
        fit_seconds=fit_s,
        score_and_cdf_seconds=score_s,
        minority_draw_seconds=draw_s,
        allreduce_mb=allreduce_bytes / 2**20,
        memory_mb=memory,
        state_mb=sum(memory.values()),
        dense_float16_table_gb=n * k * 2 / 2**30,
        peak_rss_mb=peak_rss_mb,
        threads=torch.get_num_threads(),
        torch_version=torch.__version__,
        fitted_mixtures=int(params.fitted.sum()))
    print(f'Open Images scale: N = {n:,}, K = {k:,} ({n * k / 1e9:.1f} '
          f'billion labels), {num_batches:,} batches of {b}')
    for name, value in (
        ('collect (Eq. 2, 6) per batch', f'{collect_s * 1e3:.1f} ms'),
        ('p_G + Eq. 9 + Eq. 10 per batch',
         f'{manage_s * 1e3:.1f} ms'), ('classifier layer 2048->K per batch',
                                       f'{fc_s * 1e3:.1f} ms'),
        ('ResNet-50 448px fwd+bwd per batch (scaled from 2 images)',
         'skipped' if backbone_s is None else f'{backbone_s:.1f} s'),
        ('fit 2K mixtures (Eq. 7)', f'{fit_s:.2f} s'), ('Score + Eq. 4 + CDF',
                                                        f'{score_s:.2f} s'),
        ('one epoch of minority draws',
         f'{draw_s:.2f} s'), ('all-reduce buffer',
                              f'{result["allreduce_mb"]:.1f} MB'),
        ('state', f'{result["state_mb"]:.1f} MB '
         f'(dense float16 N x K: {result["dense_float16_table_gb"]:,.0f}'
         ' GB)'), ('peak RSS', f'{peak_rss_mb:.0f} MB')):
        print(f'{name:<36} {value}')
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
