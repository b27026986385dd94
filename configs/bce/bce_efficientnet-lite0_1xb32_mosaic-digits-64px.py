# Plain BCE, the paper's "Default" (BalanceMix Tables 1-3).
_base_ = [
    '../_base_/datasets/mosaic_digits_64px.py',
    '../_base_/models/efficientnet_lite0_pretrained.py',
    '../_base_/schedules/mosaic_finetune.py', '../_base_/default_runtime.py'
]
default_hooks = dict(logger=dict(interval=20))
