"""Label management at large N, end to end: ``LabelManagerHook``,
``DualBatchSampler`` and ``BalanceMixDataPreprocessor`` train a tiny model on
a synthetic multi-label dataset, with the sparse label manager
(``sparse=True``: CSR labels, streamed histograms, per-batch Eq. 8-10) and
with the dense one (``N x K`` tables), each in a process of its own whose
peak memory is measured.

The dataset (``SyntheticMultiLabel``, defined here) draws 1-8 positive labels
per image from a long-tailed (Zipf) class distribution and makes each 8 x 8
image from its labels' fixed random patterns plus noise; the training set is
wrapped in ``LabelNoiseDataset`` (mislabel 40%). The model is one 3 x 3
convolution and BalanceMix's head. Warm-up is 1 epoch, so with ``--epochs
2`` epoch 2 is managed: every batch gets its ``p_G``, re-labels and weights
from epoch 1's mixtures.

Usage:
    python benchmarks/large_n.py [--n 1000000] [--k 1000] [--epochs 2]
        [--dense-n 100000] [--memory-limit-gb 20]

runs: sparse at ``--n``; dense at ``--n`` under an address-space limit of
``--memory-limit-gb`` (it is expected to fail; the error is recorded); both
at ``--dense-n``. Writes ``benchmarks/results/large_n.json`` (one record per
case, resumable: a case already recorded with the same arguments is not run
again) and prints a table; ``benchmarks/performance.py`` puts it into
``performance.{md,json}`` (key ``large_n``).
"""
import argparse
import datetime
import io
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time
import traceback

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
OUT = osp.join(ROOT, 'benchmarks', 'results', 'large_n.json')


def register():
    """The synthetic dataset and the tiny backbone, in mmpretrain's
    registries."""
    from mmengine.dataset import BaseDataset
    from mmpretrain.registry import DATASETS, MODELS
    from scipy import sparse
    from torch import nn

    if 'SyntheticMultiLabel' in DATASETS.module_dict:
        return

    @DATASETS.register_module()
    class SyntheticMultiLabel(BaseDataset):
        """``num_images`` 8 x 8 images with long-tailed labels, kept as CSR
        (``label_csr``); no per-image Python objects are stored."""

        def __init__(self,
                     num_images,
                     num_classes,
                     img_size=8,
                     seed=0,
                     pipeline=(),
                     **kwargs):
            self.num_images, self.num_classes = num_images, num_classes
            self.img_size, self.seed = img_size, seed
            super().__init__(
                ann_file='',
                metainfo=dict(classes=[f'c{k}' for k in range(num_classes)]),
                pipeline=list(pipeline),
                lazy_init=True,
                serialize_data=False)

        def full_init(self):
            if self._fully_initialized:
                return
            rng = np.random.default_rng(self.seed)
            n, k = self.num_images, self.num_classes
            counts = np.minimum(1 + rng.poisson(1.5, n), 8)
            prob = 1.0 / np.arange(1, k + 1)**1.1
            cols = rng.choice(k, size=int(counts.sum()), p=prob / prob.sum())
            rows = np.repeat(np.arange(n), counts)
            m = sparse.coo_array((np.ones(cols.size, bool), (rows, cols)),
                                 shape=(n, k)).tocsr()
            m.sum_duplicates()
            m.sort_indices()
            self.label_csr = sparse.csr_array(
                (np.ones(m.nnz, bool), m.indices, m.indptr), shape=(n, k))
            s = self.img_size
            self.patterns = rng.normal(0, 1, (k, s, s, 3)).astype(np.float32)
            self._fully_initialized = True

        def __len__(self):
            return self.num_images

        def get_cat_ids(self, idx):
            m = self.label_csr
            return m.indices[m.indptr[idx]:m.indptr[idx + 1]].tolist()

        def get_data_info(self, idx):
            cats = self.get_cat_ids(idx)
            rng = np.random.default_rng((self.seed, idx))
            img = 128 + 40 * self.patterns[cats].sum(0) + rng.normal(
                0, 20, self.patterns.shape[1:])
            return dict(
                img=np.clip(img, 0, 255).astype(np.uint8),
                gt_label=cats,
                sample_idx=idx)

    @MODELS.register_module()
    class LargeNTinyNet(nn.Module):
        """One 3 x 3 convolution, ReLU, global average pooling."""

        def __init__(self, channels=32, init_cfg=None):
            super().__init__()
            self.conv = nn.Conv2d(3, channels, 3, padding=1)

        def init_weights(self):
            pass

        def forward(self, x):
            return (torch.relu(self.conv(x)).mean((2, 3)), )


def build_cfg(args, storage, n, work_dir):
    from mmengine.config import Config
    k = args.k
    sparse = storage == 'sparse'
    return Config(
        dict(
            default_scope='mmpretrain',
            work_dir=work_dir,
            model=dict(
                type='ImageClassifier',
                backbone=dict(type='LargeNTinyNet', channels=32),
                head=dict(
                    type='BalanceMixHead',
                    num_classes=k,
                    in_channels=32,
                    loss=dict(type='BalanceMixLoss'))),
            data_preprocessor=dict(
                type='BalanceMixDataPreprocessor',
                num_classes=k,
                mean=[127.5] * 3,
                std=[127.5] * 3,
                mix=dict(type='MinorityMixup', alpha=4.0)),
            train_dataloader=dict(
                batch_size=args.batch_size,
                num_workers=args.workers,
                persistent_workers=args.workers > 0,
                sampler=dict(type='DefaultSampler', shuffle=True),
                batch_sampler=dict(type='DualBatchSampler'),
                collate_fn=dict(type='default_collate'),
                dataset=dict(
                    type='LabelNoiseDataset',
                    noise_type='mislabel',
                    noise_rate=0.4,
                    seed=0,
                    sparse=sparse,
                    dataset=dict(
                        type='SyntheticMultiLabel',
                        num_images=n,
                        num_classes=k,
                        pipeline=[dict(type='PackInputs')]))),
            train_cfg=dict(by_epoch=True, max_epochs=args.epochs),
            optim_wrapper=dict(
                optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
            default_hooks=dict(
                timer=dict(type='IterTimerHook'),
                logger=dict(type='LoggerHook', interval=200),
                param_scheduler=dict(type='ParamSchedulerHook'),
                checkpoint=dict(type='CheckpointHook', interval=args.epochs),
                sampler_seed=dict(type='DistSamplerSeedHook'),
                label_manager=dict(
                    type='LabelManagerHook',
                    sparse=sparse,
                    stats_source='batch' if sparse else 'online',
                    warmup_epochs=1,
                    shot_thresholds=(n // 100, n // 1000)),
                epoch_seed=dict(type='EpochSeedHook')),
            env_cfg=dict(
                cudnn_benchmark=False,
                dist_cfg=dict(backend='gloo'),
                mp_cfg=dict(mp_start_method='fork')),
            randomness=dict(seed=0),
            log_level='WARNING'))


def peak_rss_mb():
    """Peak resident memory of this process and of its largest child."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, child


def _time_calls(obj, name, rec, key):
    """Add the seconds of every call of ``obj.name`` to ``rec[key]`` (a
    list, one entry per epoch, opened by the clock hook)."""
    fn = getattr(obj, name)

    def timed(*a, **kw):
        t0 = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            seconds = rec.setdefault(key, [0.0])
            seconds[-1] += time.perf_counter() - t0

    setattr(obj, name, timed)


def run_case(args, storage, n):
    """One training run in this process; returns its record."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    import mmbmix  # noqa: F401
    from mmbmix.engine.hooks import LabelManagerHook
    from mmbmix.engine.hooks.label_manager_hook import STATE_KEY
    register()
    work_dir = osp.join(args.work_root, f'{storage}_n{n}_k{args.k}')
    rec = dict(storage=storage, n=n, k=args.k, epochs=args.epochs)

    class Clock(Hook):
        priority = 'LOWEST'

        def before_train_epoch(self, runner):
            self.t0 = time.perf_counter()
            for key in ('before_train_iter_seconds', 'update_seconds'):
                if runner.epoch > 0:
                    rec.setdefault(key, [0.0]).append(0.0)

        def after_train_epoch(self, runner):
            rec.setdefault('epoch_seconds',
                           []).append(time.perf_counter() - self.t0)
            rec.setdefault('peak_rss_mb_after_epoch',
                           []).append(peak_rss_mb()[0])

    t0 = time.perf_counter()
    runner = Runner.from_cfg(build_cfg(args, storage, n, work_dir))
    runner.register_hook(Clock())
    hook = next(h for h in runner.hooks if isinstance(h, LabelManagerHook))
    # label management's own seconds: the per-batch step (sparse: Eq. 2,
    # 6 statistics, p_G, Eq. 9-10; dense online: the random half's record)
    # and the end-of-epoch update (Eq. 3-4, 7; dense: also Eq. 8-9)
    for obj, name in ((hook, 'before_train_iter'), (hook.manager, 'update')):
        _time_calls(obj, name, rec, f'{name}_seconds')
    runner.train()
    rec['total_seconds'] = time.perf_counter() - t0
    rec['diagnostics'] = hook.diagnostics
    ds = runner.train_dataloader.dataset
    rec['positives'] = int(ds.label_csr.nnz) if ds.label_csr is not None \
        else int(ds.label_matrix.sum())
    ckpt = osp.join(work_dir, f'epoch_{args.epochs}.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    buf = io.BytesIO()
    torch.save(state[STATE_KEY], buf)
    rec['label_state_checkpoint_mb'] = len(buf.getvalue()) / 2**20
    rec['checkpoint_file_mb'] = osp.getsize(ckpt) / 2**20
    own, child = peak_rss_mb()
    rec.update(peak_rss_mb=own, worker_peak_rss_mb=child)
    rec['managed_epoch_seconds'] = rec['epoch_seconds'][-1]
    return rec


def child_main(args):
    if args.memory_limit_gb:
        limit = int(args.memory_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        rec = run_case(args, args.case, args.case_n)
        rec['status'] = 'ok'
    except (MemoryError, RuntimeError) as err:
        own, child = peak_rss_mb()
        rec = dict(
            storage=args.case,
            n=args.case_n,
            k=args.k,
            status='failed',
            error=f'{type(err).__name__}: {str(err).splitlines()[0][:300]}',
            where=traceback.format_exc().strip().splitlines()[-3][:300],
            peak_rss_mb=own,
            memory_limit_gb=args.memory_limit_gb)
    print('RECORD ' + json.dumps(rec), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=1_000_000)
    p.add_argument('--k', type=int, default=1000)
    p.add_argument('--dense-n', type=int, default=100_000)
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=1024)
    p.add_argument('--workers', type=int, default=1)
    p.add_argument('--memory-limit-gb', type=float, default=20.0)
    p.add_argument(
        '--work-root', default=osp.join(ROOT, 'work_dirs', 'large_n'))
    p.add_argument(
        '--cases',
        nargs='+',
        default=None,
        help='storage:n pairs (default: the four cases)')
    p.add_argument('--case', help=argparse.SUPPRESS)
    p.add_argument('--case-n', type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case:
        return child_main(args)
    cases = args.cases or [
        f'sparse:{args.dense_n}', f'dense:{args.dense_n}', f'sparse:{args.n}',
        f'dense:{args.n}'
    ]
    record, done = {}, {}
    if osp.exists(OUT):
        with open(OUT) as f:
            record = json.load(f)
        done = record.setdefault('cases', {})
    for case in cases:
        storage, n = case.split(':')
        key = f'{storage}_n{n}_k{args.k}_e{args.epochs}_b{args.batch_size}'
        if done.get(key, {}).get('status') in ('ok', 'failed'):
            print(f'{key}: recorded earlier', flush=True)
            continue
        cmd = [
            sys.executable,
            osp.relpath(__file__,
                        ROOT), '--case', storage, '--case-n', n, '--k',
            str(args.k), '--epochs',
            str(args.epochs), '--batch-size',
            str(args.batch_size), '--workers',
            str(args.workers), '--work-root', args.work_root,
            '--memory-limit-gb',
            str(args.memory_limit_gb if storage == 'dense' else 0)
        ]
        print('running', ' '.join(cmd[1:]), flush=True)
        t0 = time.time()
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED='1'))
        lines = [
            ln for ln in proc.stdout.splitlines() if ln.startswith('RECORD ')
        ]
        if lines:
            rec = json.loads(lines[-1][len('RECORD '):])
        else:  # killed (e.g. by the kernel's OOM killer) before a record
            rec = dict(
                storage=storage,
                n=int(n),
                k=args.k,
                status='failed',
                error=f'exit code {proc.returncode}: ' +
                (proc.stderr.strip().splitlines() or [''])[-1][:300])
        rec.update(
            command='python ' + ' '.join(cmd[1:]),
            wall_seconds=time.time() - t0,
            date=datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
            threads=torch.get_num_threads(),
            torch=torch.__version__)
        done[key] = rec
        record['cases'] = done
        with open(OUT, 'w') as f:
            json.dump(record, f, indent=1)
        print(key, rec['status'], rec.get('error', ''), flush=True)
    print('| storage | N | K | status | peak RSS (MB) | managed epoch (s) | '
          'label state in checkpoint (MB) |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for rec in done.values():
        print(f"| {rec['storage']} | {rec['n']:,} | {rec['k']:,} | "
              f"{rec['status']} | {rec.get('peak_rss_mb', float('nan')):.0f}"
              f" | {rec.get('managed_epoch_seconds', float('nan')):.0f} | "
              f"{rec.get('label_state_checkpoint_mb', float('nan')):.2f} |")


if __name__ == '__main__':
    main()
