# Plain BCE fine-tuning ImageNet EfficientNet-Lite0 on the 64 px digits
# mosaic: the README demo's baseline (clean labels).
_base_ = [
    '../_base_/datasets/mosaic_digits_64px.py',
    '../_base_/models/efficientnet_lite0_pretrained.py',
    '../_base_/schedules/mosaic_finetune.py', '../_base_/default_runtime.py'
]
default_hooks = dict(logger=dict(interval=20))
