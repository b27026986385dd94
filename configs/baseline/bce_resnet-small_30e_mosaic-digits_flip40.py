# The README demo's baseline: plain BCE on the digits mosaic with 40% random
# flips, 30 epochs, no RandAugment (why: ../_base_/schedules/
# mosaic_digits_demo.py). Otherwise bce_resnet-small_mosaic-digits_flip40.py,
# the robustness tables' recipe.
_base_ = [
    './bce_resnet-small_mosaic-digits_flip40.py',
    '../_base_/schedules/mosaic_digits_demo.py'
]
train_dataloader = dict(
    dataset=dict(dataset=dict(pipeline={{_base_.demo_train_pipeline}})))
param_scheduler = {{_base_.demo_param_scheduler}}
train_cfg = {{_base_.demo_train_cfg}}
