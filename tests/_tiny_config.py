"""A tiny, self-contained multi-label config for tests of the tools.

It uses only stock mmpretrain components (``MultiLabelDataset``,
``ImageClassifier`` with a slim ``ResNet_CIFAR``, ``MultiLabelLinearClsHead``,
``AveragePrecision``), so it does not depend on the BalanceMix components.
The data are ``num_images`` small PNGs written into ``work_dir/data``: class
``k`` is present when quadrant ``k`` of the image is bright, so the labels are
learnable and mAP moves away from chance within a couple of epochs.
"""
import json
import os
import os.path as osp

import numpy as np
from mmengine.config import Config
from PIL import Image

NUM_CLASSES = 4


def write_tiny_dataset(data_root, num_images=40, img_size=16, seed=0):
    """Write ``num_images`` PNGs and an OpenMMLab 2.0 annotation file.

    Args:
        data_root (str): Folder to write ``img_*.png`` and ``ann.json`` into.
        num_images (int): Number of images. Defaults to 40.
        img_size (int): Side of the square images. Defaults to 16.
        seed (int): Seed of the label draw. Defaults to 0.

    Returns:
        str: Path of the annotation file.
    """
    rng = np.random.default_rng(seed)
    labels = rng.random((num_images, NUM_CLASSES)) < 0.4
    labels[~labels.any(1), 0] = True  # every image has a positive label
    half = img_size // 2
    data_list = []
    for i, row in enumerate(labels):
        img = rng.integers(0, 40, (img_size, img_size, 3), dtype=np.uint8)
        for k in np.flatnonzero(row):
            ys, xs = divmod(int(k), 2)
            img[ys * half:(ys + 1) * half, xs * half:(xs + 1) * half] += 200
        name = f'img_{i:03d}.png'
        Image.fromarray(img).save(osp.join(data_root, name))
        data_list.append(
            dict(img_path=name, gt_label=np.flatnonzero(row).tolist()))
    ann_file = osp.join(data_root, 'ann.json')
    metainfo = dict(classes=[f'c{k}' for k in range(NUM_CLASSES)])
    with open(ann_file, 'w') as f:
        json.dump(dict(metainfo=metainfo, data_list=data_list), f)
    return ann_file


def tiny_config(work_dir,
                max_epochs=2,
                num_images=40,
                img_size=16,
                batch_size=8,
                num_workers=0,
                seed=0):
    """Build a tiny multi-label classification config on synthetic data.

    Args:
        work_dir (str): Work directory; the data go into ``work_dir/data``.
        max_epochs (int): Training epochs. Defaults to 2.
        num_images (int): Number of synthetic images. Defaults to 40.
        img_size (int): Image side in pixels. Defaults to 16.
        batch_size (int): Batch size per process. Defaults to 8.
        num_workers (int): Dataloader workers. Defaults to 0.
        seed (int): Seed of the data and of the run. Defaults to 0.

    Returns:
        mmengine.Config: A config ready for ``Runner.from_cfg`` or
        ``Config.dump``.
    """
    data_root = osp.join(work_dir, 'data')
    os.makedirs(data_root, exist_ok=True)
    ann_file = write_tiny_dataset(data_root, num_images, img_size, seed)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]

    def loader(shuffle):
        return dict(
            batch_size=batch_size,
            num_workers=num_workers,
            sampler=dict(type='DefaultSampler', shuffle=shuffle),
            dataset=dict(
                type='MultiLabelDataset',
                data_root=data_root,
                ann_file=ann_file,
                pipeline=pipeline))

    cfg = dict(
        default_scope='mmpretrain',
        work_dir=work_dir,
        model=dict(
            type='ImageClassifier',
            data_preprocessor=dict(
                num_classes=NUM_CLASSES,
                mean=[60., 60., 60.],
                std=[90., 90., 90.],
                to_rgb=False,
                to_onehot=True),
            backbone=dict(
                type='ResNet_CIFAR',
                depth=18,
                stem_channels=8,
                base_channels=8,
                num_stages=2,
                strides=(1, 2),
                dilations=(1, 1),
                out_indices=(1, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='MultiLabelLinearClsHead',
                num_classes=NUM_CLASSES,
                in_channels=16,
                loss=dict(type='CrossEntropyLoss', use_sigmoid=True))),
        train_dataloader=loader(shuffle=True),
        val_dataloader=loader(shuffle=False),
        test_dataloader=loader(shuffle=False),
        val_evaluator=dict(type='AveragePrecision'),
        test_evaluator=dict(type='AveragePrecision'),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        param_scheduler=dict(type='ConstantLR', factor=1.0),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        val_cfg=dict(),
        test_cfg=dict(),
        auto_scale_lr=dict(base_batch_size=batch_size, enable=False),
        default_hooks=dict(
            timer=dict(type='IterTimerHook'),
            logger=dict(type='LoggerHook', interval=1),
            param_scheduler=dict(type='ParamSchedulerHook'),
            checkpoint=dict(type='CheckpointHook', interval=1),
            sampler_seed=dict(type='DistSamplerSeedHook'),
            visualization=dict(type='VisualizationHook', enable=False)),
        env_cfg=dict(
            cudnn_benchmark=False,
            mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
            dist_cfg=dict(backend='nccl')),
        visualizer=dict(
            type='UniversalVisualizer',
            vis_backends=[dict(type='LocalVisBackend')]),
        log_level='INFO',
        load_from=None,
        resume=False,
        randomness=dict(seed=seed, deterministic=False),
    )
    return Config(cfg)
