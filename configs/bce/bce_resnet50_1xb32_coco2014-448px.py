# Plain BCE, the paper's "Default" (BalanceMix Tables 1-3).
_base_ = [
    '../_base_/datasets/coco2014.py', '../_base_/models/resnet50_448.py',
    '../_base_/schedules/coco_50e.py', '../_base_/default_runtime.py'
]
model = dict(head=dict(num_classes=80))
