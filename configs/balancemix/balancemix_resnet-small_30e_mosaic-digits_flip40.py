# The README demo: BalanceMix on the digits mosaic with 40% random flips,
# 30 epochs, no RandAugment (why: see
# ../baseline/bce_resnet-small_30e_mosaic-digits_flip40.py, its baseline with
# the same data, pipeline and schedule). Warm-up 8 of 30 epochs, about the
# paper's share (VOC 5 of 20, COCO 10 of 50). Without RandAugment the two
# views of Eq. 9 are the un-augmented predictions of this epoch and the last
# (stats_source='online').
_base_ = ['./balancemix_resnet-small_mosaic-digits_flip40.py']
train_dataloader = dict(
    dataset=dict(
        dataset=dict(pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(32, 32)),
            dict(type='PackInputs'),
        ])))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=30, by_epoch=True, begin=0, end=30)
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=30)
custom_hooks = [
    dict(
        type='LabelManagerHook',
        warmup_epochs=8,
        relabel_threshold=0.975,
        shot_thresholds=(500, 100)),
    dict(type='EpochSeedHook'),
]
