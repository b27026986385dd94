# Plain BCE, the paper's "Default" (BalanceMix Tables 1-3).
_base_ = [
    '../_base_/datasets/mosaic_digits.py', '../_base_/models/resnet_small.py',
    '../_base_/schedules/mosaic.py', '../_base_/default_runtime.py'
]
default_hooks = dict(logger=dict(interval=10))
