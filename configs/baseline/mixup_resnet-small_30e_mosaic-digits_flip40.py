# Mixup + BCE with the README demo's data, pipeline and schedule
# (../_base_/schedules/mosaic_digits_demo.py): what BalanceMix adds on top of
# mixing alone.
_base_ = [
    './mixup_resnet-small_mosaic-digits_flip40.py',
    '../_base_/schedules/mosaic_digits_demo.py'
]
train_dataloader = dict(
    dataset=dict(dataset=dict(pipeline={{_base_.demo_train_pipeline}})))
param_scheduler = {{_base_.demo_param_scheduler}}
train_cfg = {{_base_.demo_train_cfg}}
