"""Training cost of BalanceMix against mmpretrain's Mixup + BCE.

Both recipes train the same model on the same data with the same mixed-batch
size, in this one process, one after the other, with the data loader that
``tools/train.py`` builds (its defaults: ``default_collate``, which stacks a
batch in the loading worker, pinned memory on CUDA, persistent workers); the
figure is seconds per training epoch (hooks included), the median over
``--repeats`` epochs after
a first, unmeasured one. BalanceMix runs with ``warmup_epochs=0`` so that
every measured epoch pays for the whole label management: the larger loaded
batch (random + minority half) and, with the default ``--stats-source
batch`` (Algorithm 1), two eval-mode forwards of the whole dual batch (one
per view) before each step, Eq. 8-10 per batch, the mixture fit and the
sampler update (``statistics``: the hook's per-batch work, forwards
included; ``label_step``: the manager's share of it); ``batch1``: one view;
``sparse``: histogram statistics; ``audit`` / ``online``: the per-epoch
managers. Writes ``throughput.json`` (batch) or
``throughput_<source>.json``.

CPU (default): the digits mosaic at 32 px with the small ResNet.
GPU: ``--gpu`` uses ResNet-50 at 448 px (digits mosaic tiles upscaled to
224 px, 2x2 grid), AMP, and writes ``throughput_gpu.json``.

Usage:
    python benchmarks/throughput.py [--repeats 5] [--gpu] [--num-images N]
Writes benchmarks/results/throughput[_gpu].json and prints a table.
"""
import argparse
import datetime
import importlib.util
import json
import os.path as osp
import statistics
import sys
import tempfile
import time

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mmbmix  # noqa: F401
from mmbmix.engine.hooks import LabelManagerHook
from mmbmix.utils import hook_cfgs

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = osp.join(ROOT, 'configs', 'balancemix',
               'balancemix_resnet-small_1xb32_mosaic-digits-32px.py')
BASE = osp.join(ROOT, 'configs', 'bce',
                'bce_resnet-small_1xb32_mosaic-digits-32px.py')


def _train_tool():
    """``tools/train.py`` as a module (its dataloader defaults)."""
    spec = importlib.util.spec_from_file_location(
        'mmbmix_train_tool', osp.join(ROOT, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _timed(obj, name, record, key):
    """Wrap ``obj.name`` so that each call adds its seconds to
    ``record[key]``."""
    fn = getattr(obj, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            record[key] = record.get(key, 0.0) + time.perf_counter() - t0

    setattr(obj, name, wrapper)


class _TimedSource:
    """A confidence source whose calls are timed as ``statistics``."""

    def __init__(self, source, parts):
        # not 'record': OnlineConfidence.record must reach the source
        self.source, self._parts = source, parts
        if hasattr(source, 'record'):  # the online source's per-step pass
            _timed(source, 'record', parts, 'statistics')

    def __getattr__(self, name):
        return getattr(self.source, name)

    def __call__(self, *args):
        t0 = time.perf_counter()
        out = self.source(*args)
        self._parts['statistics'] = self._parts.get(
            'statistics', 0.0) + time.perf_counter() - t0
        return out


class EpochClock(Hook):
    """Epoch wall time (all other hooks included) and its parts."""
    priority = 'LOWEST'

    def __init__(self):
        self.epochs = []

    def before_train(self, runner):
        """Time the label manager's parts (statistics, update) from here:
        library code keeps no timings."""
        self.parts = {}
        for h in runner.hooks:
            if isinstance(h, LabelManagerHook) and h.per_batch:
                # the eval-mode forwards of the views, then p_G, Eq. 9-10
                # and the statistics (the manager's step)
                _timed(h, 'before_train_iter', self.parts, 'statistics')
                _timed(h.manager, 'step', self.parts, 'label_step')
                _timed(h.manager, 'update', self.parts, 'label_update')
            elif isinstance(h, LabelManagerHook):
                h.source = _TimedSource(h.source, self.parts)
                _timed(h.manager, 'update', self.parts, 'label_update')

    def before_train_epoch(self, runner):
        self.t0 = time.perf_counter()
        self.data = self.step = 0.0
        self.parts.clear()

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        hub = runner.message_hub
        self.data += hub.get_scalar('train/data_time').current()
        self.step += hub.get_scalar('train/time').current()

    def after_train_epoch(self, runner):
        wall = time.perf_counter() - self.t0
        rec = dict(
            epoch_seconds=wall,
            data_loading=self.data,
            forward_backward=self.step - self.data)
        rec.update(self.parts)
        self.epochs.append(rec)


# --stats-source: the LabelManagerHook arguments of each measured option
SOURCES = dict(
    batch=dict(stats_source='batch'),  # the default: Algorithm 1, 2 views
    batch1=dict(stats_source='batch', num_views=1),  # one view
    sparse=dict(stats_source='batch', sparse=True),
    audit=dict(stats_source='audit'),
    online=dict(stats_source='online'))


def build(cfg_file, work_dir, args, balancemix):
    cfg = Config.fromfile(cfg_file)
    cfg.work_dir = work_dir
    epochs = args.repeats + 1
    cfg.train_cfg = dict(by_epoch=True, max_epochs=epochs, val_interval=10**6)
    cfg.param_scheduler = dict(
        type='CosineAnnealingLR',
        T_max=epochs,
        by_epoch=True,
        begin=0,
        end=epochs)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = 10**6
    cfg.train_dataloader.batch_size = args.batch_size
    cfg.train_dataloader.num_workers = args.workers
    if args.collate == 'train.py':
        _train_tool().set_dataloader_defaults(
            cfg, 'train_dataloader', pin_memory=True, persistent_workers=True)
    else:  # mmengine Runner's own default
        cfg.train_dataloader.collate_fn = dict(type=args.collate)
        cfg.train_dataloader.persistent_workers = args.workers > 0
    ds = cfg.train_dataloader.dataset
    if ds.type == 'LabelNoiseDataset':  # the clean wrapper of every config
        ds = ds.dataset
    ds.num_images = args.num_images
    if args.gpu:
        ds.tile_size = 224
        cfg.model.backbone = dict(
            type='ResNet',
            depth=50,
            num_stages=4,
            out_indices=(3, ),
            style='pytorch')
        cfg.model.head.in_channels = 2048
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        for t in ds.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (448, 448)
    if balancemix:
        for hook in hook_cfgs(cfg, 'LabelManagerHook'):
            hook.warmup_epochs = 0
            hook.update(SOURCES[args.stats_source])
    else:  # mmpretrain's own Mixup + BCE
        cfg.model.train_cfg = dict(augments=dict(type='Mixup', alpha=1.0))
    return cfg


def run(cfg):
    clock = EpochClock()
    runner = Runner.from_cfg(cfg)
    runner.register_hook(clock)
    runner.train()
    return clock.epochs[1:]


def median(recs, key):
    return statistics.median(r.get(key, 0.0) for r in recs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--num-images', type=int, default=2000)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--gpu', action='store_true')
    parser.add_argument(
        '--stats-source',
        default='batch',
        choices=list(SOURCES),
        help="LabelManagerHook's options (SOURCES; default 'batch', "
        "Algorithm 1 with two views; 'batch1': one view)")
    parser.add_argument(
        '--collate',
        default='train.py',
        choices=['train.py', 'pseudo_collate'],
        help="the data loader of tools/train.py (default), "
        "or mmengine Runner's pseudo_collate (one tensor "
        "per image through the worker queue)")
    args = parser.parse_args()
    name = 'throughput_gpu' if args.gpu else 'throughput'
    if args.stats_source != 'batch':
        name += f'_{args.stats_source}'
    if args.collate != 'train.py':
        name += f'_{args.collate}'
    out = osp.join(ROOT, 'benchmarks', 'results', name + '.json')
    with tempfile.TemporaryDirectory() as tmp:
        base = run(build(BASE, osp.join(tmp, 'base'), args, False))
        bmix = run(build(CFG, osp.join(tmp, 'bmix'), args, True))
    keys = [
        'data_loading', 'forward_backward', 'statistics', 'label_step',
        'label_update'
    ]
    result = dict(
        balancemix_epoch_seconds=median(bmix, 'epoch_seconds'),
        baseline_epoch_seconds=median(base, 'epoch_seconds'),
        breakdown={k: median(bmix, k)
                   for k in keys},
        baseline_breakdown={k: median(base, k)
                            for k in keys[:2]},
        repeats=args.repeats,
        num_images=args.num_images,
        mixed_batch_size=args.batch_size,
        workers=args.workers,
        collate=args.collate,
        date=datetime.date.today().isoformat(),
        device=torch.cuda.get_device_name() if args.gpu else 'cpu',
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        command=' '.join([osp.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
        epochs_balancemix=bmix,
        epochs_baseline=base)
    result['ratio'] = (
        result['balancemix_epoch_seconds'] / result['baseline_epoch_seconds'])
    print('| recipe | s/epoch (median) |')
    print('| --- | --- |')
    base = result['baseline_epoch_seconds']
    print(f'| Mixup + BCE (mmpretrain) | {base:.2f} |')
    print(f"| BalanceMix | {result['balancemix_epoch_seconds']:.2f} |")
    print(f"| ratio | {result['ratio']:.2f}x |")
    for k, v in result['breakdown'].items():
        print(f'| BalanceMix: {k} | {v:.2f} |')
    with open(out, 'w') as f:
        json.dump(result, f, indent=2)


if __name__ == '__main__':
    main()
