# BCE with an ML-Decoder head (Ridnik et al., WACV 2023) on TResNet-L (timm
# 'tresnet_l', its ImageNet-1k weights, `pip install timm`) at 640 px on
# COCO 2014: the baseline of the BalanceMix Table 6 pair. The head decodes
# the backbone's 20 x 20 map (no neck) with 80 fixed queries.
_base_ = [
    '../_base_/datasets/coco2014.py', '../_base_/models/tresnet_l.py',
    '../_base_/schedules/coco_50e.py', '../_base_/default_runtime.py'
]
model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='MLDecoderHead',
        num_classes=80,
        in_channels=2432,
        num_queries=100,
        embed_dims=768,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(640, 640)),
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
    dict(type='Resize', scale=(640, 640)),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
