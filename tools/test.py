"""Test (and evaluate) a checkpoint with an mmbmix / mmpretrain config.

Same command line as mmpretrain 1.2.0's ``tools/test.py``. It imports
``mmbmix`` (registers the BalanceMix components), calls
``register_safe_globals()`` so the checkpoint loads under torch >= 2.6
(``weights_only=True``), and runs ``--launcher pytorch`` on CPU processes
with gloo when no GPU is visible (see ``setup_cpu_distributed`` in
``tools/train.py``). The checkpoint is checked first: a missing or cut-short
file is a one-line error naming it, and a file the weights-only unpickler
refuses stops the tool unless ``--trust-checkpoint`` (or
``MMBMIX_TRUST_CHECKPOINT=1``) is given.
"""
import argparse
import os
import os.path as osp
from copy import deepcopy

import mmengine
import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmbmix  # noqa: F401  (registers the BalanceMix components)
from mmbmix.utils import register_safe_globals
from mmbmix.utils.checkpoint import CheckpointError, checkpoint_guard
from mmbmix.utils.dist import destroy_distributed, setup_cpu_distributed


def parse_args():
    parser = argparse.ArgumentParser(
        description='mmbmix test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save the file with the metrics')
    parser.add_argument('--out', help='the file to write the results to')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='write the metrics or the predictions to --out (default: '
        'predictions)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, as key=value pairs merged into the '
        'config; lists as key="[a,b]" or key=a,b, nested as '
        'key="[(a,b),(c,d)]" (quotes needed, no white space)')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load the checkpoint with a full unpickle (weights_only=False), '
        'which can run code stored in it; only for files you trust (also '
        'MMBMIX_TRUST_CHECKPOINT=1)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='test with automatic mixed precision (`test_cfg.fp16`)')
    parser.add_argument(
        '--show-dir', help='dir to save the visualized predictions in')
    parser.add_argument(
        '--show', action='store_true', help='show the predictions in a window')
    parser.add_argument(
        '--interval', type=int, default=1, help='visualize every N samples')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='seconds each window is shown')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable pin_memory in the dataloader')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: the config\'s `tta_pipeline` and '
        '`tta_model`, else flip TTA averaging the class scores')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.out is None and args.out_item is not None:
        parser.error('--out-item needs --out')
    return args


def set_visualization(cfg, args):
    """Turn on the ``VisualizationHook`` for ``--show``/``--show-dir``."""
    if not (args.show or args.show_dir is not None):
        return
    if 'visualization' not in cfg.default_hooks:
        raise ValueError(f'{args.config}: --show/--show-dir need '
                         '`default_hooks.visualization=dict('
                         'type="VisualizationHook")`')
    vis = cfg.default_hooks.visualization
    vis.enable = True
    vis.show = args.show
    vis.wait_time = args.wait_time
    vis.out_dir = args.show_dir
    vis.interval = args.interval


def set_tta(cfg):
    """Wrap the model for test-time augmentation (flip TTA by default)."""
    if 'tta_model' not in cfg:
        cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
    if 'tta_pipeline' not in cfg:
        test_pipeline = cfg.test_dataloader.dataset.pipeline
        cfg.tta_pipeline = deepcopy(test_pipeline)
        cfg.tta_pipeline[-1] = dict(
            type='TestTimeAug',
            transforms=[[
                dict(type='RandomFlip', prob=1.),
                dict(type='RandomFlip', prob=0.)
            ], [test_pipeline[-1]]])
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def merge_args(cfg, args):
    """Merge the command line into the config."""
    cfg.launcher = args.launcher
    if cfg.get('default_scope', None) is None:
        cfg.default_scope = 'mmpretrain'

    # work_dir priority: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.amp:
        cfg.test_cfg.fp16 = True

    set_visualization(cfg, args)
    if args.tta:
        set_tta(cfg)

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # defaults after --cfg-options, which may change num_workers
    loader = ConfigDict(
        pin_memory=torch.cuda.is_available(),
        collate_fn=dict(type='default_collate'))
    loader.update(cfg.test_dataloader)
    if args.no_pin_memory:
        loader.pin_memory = False
    if not loader.get('num_workers', 0):
        loader.persistent_workers = False
    cfg.test_dataloader = loader
    return cfg


def run_test(cfg, args):
    """Build the runner, test, and return the metrics."""
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    if args.out and args.out_item in ('pred', None):
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    return runner.test()


def main():
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    register_safe_globals()
    setup_cpu_distributed(cfg)
    try:
        with checkpoint_guard(cfg.load_from, args.trust_checkpoint):
            metrics = run_test(cfg, args)
    except CheckpointError as e:
        raise SystemExit(f'test.py: error: {e}')
    destroy_distributed()
    if args.out and args.out_item == 'metrics':
        mmengine.dump(metrics, args.out)


if __name__ == '__main__':
    main()
