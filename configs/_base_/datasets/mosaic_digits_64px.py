# Mosaic digits at 64 px for ImageNet-pretrained backbones (the README demo):
# the real 8x8 scikit-learn digits of mosaic_digits.py, 1-4 per 64 px canvas
# at random positions and scales (layout='free'; on a fixed grid, mixing two
# mosaics stacks their objects on the same cells), RGB in [-1, 1] as the
# EfficientNet-Lite weights expect, no RandAugment and no flip (a mirrored
# digit is not the same digit); a mild random crop keeps the two views of
# Eq. 9 independent augmentations.
_base_ = ['./mosaic_digits.py']
data_root = 'data/mosaic_digits_64px'
mosaic = dict(tile_size=32, layout='free')
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
    dataset=dict(
        dataset=dict(
            data_root=data_root,
            tile_size=32,
            layout='free',
            pipeline=train_pipeline)))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        tile_size=32,
        layout='free',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
