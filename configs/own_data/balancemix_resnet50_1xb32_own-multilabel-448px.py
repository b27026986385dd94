# BalanceMix on your own multi-label data: a template to copy and edit.
#
# Annotations: one JSON file per split in mmpretrain's MultiLabelDataset
# format (img_path relative to data_prefix; gt_label: class indices):
#   {"metainfo": {"classes": ["cat", "dog", "car"]},
#    "data_list": [{"img_path": "0001.jpg", "gt_label": [0, 2]}, ...]}
# They are checked when training starts: a class index out of range, a
# duplicate, a missing image is a one-line error naming the file, the entry,
# the field and the value; entries without a positive label are counted in a
# warning.
# mmpretrain's own tools/train.py turns persistent_workers on by default:
# with num_workers=0 add --no-persistent-workers (mmbmix's tools/train.py
# turns it off itself).
# Edit data_root, the annotation files and num_classes, then:
#   python tools/train.py \
#       configs/own_data/balancemix_resnet50_1xb32_own-multilabel-448px.py
# A noise study on your data is one line (the training set sits in
# LabelNoiseDataset, clean here; Eq. 11):
#   train_dataloader = dict(
#       dataset=dict(noise_type='mislabel', noise_rate=0.4))
# BCE instead of BalanceMix: drop the method fragment, the head and loss as
# commented, and the three BalanceMix lines at the end.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/schedules/voc_20e.py',
    '../_base_/methods/balancemix.py',
]
custom_imports = dict(imports=['mmbmix'], allow_failed_imports=False)

data_root = 'data/my_multilabel/'
num_classes = 3  # len(metainfo.classes) of your annotation file

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth',
            prefix='backbone')),
    head=dict(
        _delete_=True,
        type='BalanceMixHead',  # BCE: 'MultiLabelLinearClsHead'
        num_classes=num_classes,
        in_channels=2048,
        loss=dict(
            type='BalanceMixLoss')))  # BCE: CrossEntropyLoss(use_sigmoid)
data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    to_onehot=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(448, 448)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        hparams=dict(pad_val=[104, 116, 124])),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(448, 448)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,  # the mixed batch: 32 random + 32 minority instances
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='LabelNoiseDataset',
        noise_type='clean',
        noise_rate=0.0,
        dataset=dict(
            type='MultiLabelDataset',
            data_root=data_root,
            ann_file='train.json',
            data_prefix='images/',
            pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='MultiLabelDataset',
        data_root=data_root,
        ann_file='val.json',
        data_prefix='images/',
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = [
    dict(type='AveragePrecision'),
    dict(type='MultiLabelMetric', average='macro', thr=0.5),
]
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# BalanceMix (configs/_base_/methods/balancemix.py)
train_dataloader.update(batch_sampler=_base_.balancemix_batch_sampler)
data_preprocessor.update(_base_.balancemix_data_preprocessor)
default_hooks = _base_.balancemix_hooks
