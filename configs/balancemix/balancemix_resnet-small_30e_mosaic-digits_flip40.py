# The README demo: BalanceMix on the digits mosaic with 40% random flips,
# 30 epochs, no RandAugment (why: ../_base_/schedules/mosaic_digits_demo.py;
# the baseline with the same data, pipeline and schedule is
# ../baseline/bce_resnet-small_30e_mosaic-digits_flip40.py). Warm-up 8 of 30
# epochs, about the paper's share (VOC 5 of 20, COCO 10 of 50). Without
# RandAugment the two views of Eq. 9 are the un-augmented predictions of this
# epoch and the last (stats_source='online').
_base_ = [
    './balancemix_resnet-small_mosaic-digits_flip40.py',
    '../_base_/schedules/mosaic_digits_demo.py'
]
train_dataloader = dict(
    dataset=dict(dataset=dict(pipeline={{_base_.demo_train_pipeline}})))
param_scheduler = {{_base_.demo_param_scheduler}}
train_cfg = {{_base_.demo_train_cfg}}
custom_hooks = [
    dict(
        type='LabelManagerHook',
        warmup_epochs=8,
        relabel_threshold=0.975,
        shot_thresholds=(500, 100)),
    dict(type='EpochSeedHook'),
]
