# What the README demo's configs share (BalanceMix, BCE, Mixup on the digits
# mosaic with 40% random flips), as new names so that this file can sit next
# to a full config in `_base_`:
# - 30 epochs instead of 12: long enough for plain BCE to memorise the
#   flipped labels, the setting BalanceMix is made for (paper: ImageNet
#   pre-trained ResNet-50 over 20-50 epochs), still under 5 minutes on
#   2 CPU cores;
# - no RandAugment: on 32x32 canvases of 16 px digits, timm's RandAugment
#   (2 ops at magnitude 9, made for 224 px photos) costs plain BCE on clean
#   labels (figures: docs/implementation_notes.md).
demo_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='PackInputs'),
]
demo_param_scheduler = dict(
    type='CosineAnnealingLR', T_max=30, by_epoch=True, begin=0, end=30)
demo_train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=30)
