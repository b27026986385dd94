# Mosaic digits at 64 px for ImageNet-pretrained backbones (the paper's
# regime): the 32 px mosaic of mosaic_digits.py with the real 8x8 digits at
# 32x32 per cell, RGB in [-1, 1] as the EfficientNet-Lite weights expect, and
# no RandAugment (benchmarks/results/demo_regime.md) nor flip (a mirrored
# digit is not the same digit): a mild random crop keeps the two views of
# Eq. 9 independent augmentations.
_base_ = ['./mosaic_digits.py']
data_root = 'data/mosaic_digits_64px'
mosaic = dict(tile_size=32)
data_preprocessor = dict(mean=[127.5] * 3, std=[127.5] * 3)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=64,
        crop_ratio_range=(0.85, 1.0),
        aspect_ratio_range=(0.9, 1.1)),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    dataset=dict(data_root=data_root, tile_size=32, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, tile_size=32, pipeline=test_pipeline))
test_dataloader = val_dataloader
