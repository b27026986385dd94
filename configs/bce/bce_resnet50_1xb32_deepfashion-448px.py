# Plain BCE, the paper's "Default" (BalanceMix Tables 1-3).
_base_ = [
    '../_base_/datasets/deepfashion.py', '../_base_/models/resnet50_448.py',
    '../_base_/schedules/deepfashion_40e.py', '../_base_/default_runtime.py'
]
model = dict(head=dict(num_classes=26))
