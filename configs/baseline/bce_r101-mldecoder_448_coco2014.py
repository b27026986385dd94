# BCE with an ML-Decoder head (Ridnik et al., WACV 2023) on ResNet-101
# (OpenMMLab ImageNet-1k weights) at 448 px on COCO 2014: the baseline of the
# BalanceMix Table 6 pair. The head decodes the backbone's 14 x 14 map (no
# neck) with min(100, 80) = 80 fixed queries of width 768, one class each.
_base_ = [
    '../_base_/datasets/coco2014.py', '../_base_/models/resnet101_448.py',
    '../_base_/schedules/coco_50e.py', '../_base_/default_runtime.py'
]
model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='MLDecoderHead',
        num_classes=80,
        in_channels=2048,
        num_queries=100,
        embed_dims=768,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)))
