"""A small BalanceMix config on the digits mosaic for end-to-end tests."""
import os.path as osp

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(ROOT, 'configs', 'balancemix',
                'balancemix_resnet-small_1xb32_mosaic-digits-32px_flip40.py')


def small_bmix_config(work_dir,
                      data_root,
                      max_epochs=4,
                      warmup=2,
                      num_images=192,
                      dump_state=True,
                      **hook_kwargs):
    cfg = Config.fromfile(DEMO)
    cfg.work_dir = str(work_dir)
    inner = cfg.train_dataloader.dataset.dataset
    inner.update(data_root=str(data_root), num_images=num_images)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.update(num_workers=0, persistent_workers=False, batch_size=32)
    cfg.val_dataloader.dataset.update(data_root=str(data_root), num_images=100)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.update(max_epochs=max_epochs, val_interval=max_epochs)
    cfg.param_scheduler.update(T_max=max_epochs, end=max_epochs)
    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=-1)
    cfg.default_hooks.logger.update(interval=1)
    # The end-to-end tests exercise the audit pass (its own loader, uneven
    # shards, a kill inside it) unless they ask for another stats_source;
    # stats_source=None: the hook's default (per batch, Algorithm 1).
    hook_kwargs.setdefault('stats_source', 'audit')
    if hook_kwargs['stats_source'] is None:
        del hook_kwargs['stats_source']
    cfg.default_hooks.label_manager.update(
        warmup_epochs=warmup, shot_thresholds=(40, 10), **hook_kwargs)
    if dump_state:
        cfg.custom_hooks = [
            *cfg.get('custom_hooks', []),
            dict(type='LabelStateDumpHook')
        ]
        cfg.custom_imports = dict(
            imports=['mmbmix', '_state_dump_hook'], allow_failed_imports=False)
    cfg.val_evaluator = dict(
        type='ShotGroupAveragePrecision', shot_thresholds=(40, 10))
    cfg.test_evaluator = cfg.val_evaluator
    return cfg
