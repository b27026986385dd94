"""Train a model from an mmbmix / mmpretrain config.

Same command line as mmpretrain 1.2.0's ``tools/train.py``; differences:

* ``import mmbmix`` registers the BalanceMix components even when the config
  has no ``custom_imports``, and ``register_safe_globals()`` lets ``--resume``
  load mmengine checkpoints under torch >= 2.6 (``weights_only=True``).
* ``persistent_workers`` is only turned on when ``num_workers > 0`` (torch
  refuses it otherwise).
* Without CUDA, ``--launcher pytorch`` trains on CPU processes with gloo.
* Checkpoints are checked before the runner loads them
  (``mmbmix.utils.checkpoint``): a missing or cut-short file is a one-line
  error naming it, ``--resume`` without a path skips incomplete files, and a
  file the weights-only unpickler refuses stops the run unless
  ``--trust-checkpoint`` (or ``MMBMIX_TRUST_CHECKPOINT=1``) is given.
* ``--threads N`` sets torch's thread count (the default, one per core, is
  slow on cores that other jobs share).
* ``--amp`` needs CUDA: mmengine's ``AmpOptimWrapper`` asserts a GPU and CPU
  autocast (bf16) is not worth its accuracy cost here, so on a CPU-only
  machine the tool stops with a message instead.
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmbmix  # noqa: F401  (registers the BalanceMix components)
from mmbmix.utils import register_safe_globals
from mmbmix.utils.checkpoint import (CheckpointError, checkpoint_guard,
                                     find_resumable_checkpoint)
from mmbmix.utils.dist import destroy_distributed, setup_cpu_distributed


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, resume from the '
        'latest checkpoint in the work directory')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load the checkpoint with a full unpickle (weights_only=False), '
        'which can run code stored in it; only for files you trust (also '
        'MMBMIX_TRUST_CHECKPOINT=1)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic mixed precision training (CUDA only)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size over '
        '`auto_scale_lr.base_batch_size` of the config')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable pin_memory in the dataloaders')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='disable persistent_workers in the dataloaders')
    parser.add_argument(
        '--threads',
        type=int,
        help='torch threads of this process (torch.set_num_threads); on '
        'CPU cores shared with other jobs, 1 is often several times faster '
        'than the default (one per core)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, as key=value pairs merged into the '
        'config; lists as key="[a,b]" or key=a,b, nested as '
        'key="[(a,b),(c,d)]" (quotes needed, no white space)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank; torchrun only sets $LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.amp and not torch.cuda.is_available():
        parser.error('--amp needs a CUDA GPU (mmengine AmpOptimWrapper); '
                     'no GPU is visible, run without --amp')
    return args


def set_dataloader_defaults(cfg, field, pin_memory, persistent_workers):
    """Fill ``pin_memory``/``persistent_workers``/``collate_fn`` defaults.

    ``persistent_workers`` is forced off when ``num_workers`` is 0, where
    torch's DataLoader would raise.
    """
    if cfg.get(field, None) is None:
        return
    loader = ConfigDict(
        pin_memory=torch.cuda.is_available(),
        persistent_workers=True,
        collate_fn=dict(type='default_collate'))
    loader.update(cfg[field])
    if not pin_memory:
        loader.pin_memory = False
    if not persistent_workers or not loader.get('num_workers', 0):
        loader.persistent_workers = False
    cfg[field] = loader


def merge_args(cfg, args):
    """Merge the command line into the config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    cfg.launcher = args.launcher
    if cfg.get('default_scope', None) is None:
        cfg.default_scope = 'mmpretrain'

    # work_dir priority: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if cfg.get('auto_scale_lr', None) is None:
            raise ValueError(f'{args.config}: --auto-scale-lr needs an '
                             '`auto_scale_lr=dict(base_batch_size=...)` field')
        cfg.auto_scale_lr.enable = True

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # after --cfg-options, which may change num_workers
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        set_dataloader_defaults(cfg, field, not args.no_pin_memory,
                                not args.no_persistent_workers)
    return cfg


def resolve_auto_resume(cfg):
    """Pick the checkpoint for ``--resume`` without a path ourselves.

    mmengine trusts ``<work_dir>/last_checkpoint`` blindly; we take the file
    it names only if it is complete, else the newest complete checkpoint
    (see ``find_resumable_checkpoint``), and start afresh if there is none.
    """
    if not cfg.get('resume', False) or cfg.get('load_from', None):
        return
    cfg.load_from = find_resumable_checkpoint(cfg.work_dir)
    if cfg.load_from is None:
        cfg.resume = False
        print(f'No complete checkpoint in {cfg.work_dir} to resume from; '
              'training from scratch.')


def build_runner(cfg):
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def main():
    args = parse_args()
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f'train.py: error: --threads must be >= 1, got '
                             f'{args.threads}')
        torch.set_num_threads(args.threads)
    cfg = merge_args(Config.fromfile(args.config), args)
    register_safe_globals()
    resolve_auto_resume(cfg)
    setup_cpu_distributed(cfg)
    try:
        with checkpoint_guard(
                cfg.get('load_from', None), args.trust_checkpoint):
            build_runner(cfg).train()
    except CheckpointError as e:
        raise SystemExit(f'train.py: error: {e}')
    destroy_distributed()


if __name__ == '__main__':
    main()
