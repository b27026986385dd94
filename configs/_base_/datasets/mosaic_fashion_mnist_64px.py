# Mosaic Fashion-MNIST at 64 px for ImageNet-pretrained backbones (the
# paper's regime): the 32 px mosaic of mosaic_fashion_mnist.py with the real
# 28x28 images at 32x32 per cell (16 px tiles are too small for ImageNet
# features), RGB in [-1, 1] as the EfficientNet-Lite weights expect, and no
# RandAugment (on small grey tiles timm's RandAugment cost plain BCE 19 mAP,
# benchmarks/results/demo_regime.md); the horizontal flip keeps the two views
# of Eq. 9 independent augmentations.
_base_ = ['./mosaic_fashion_mnist.py']
data_root = 'data/mosaic_fashion_mnist_64px'
mosaic = dict(tile_size=32)
data_preprocessor = dict(mean=[127.5] * 3, std=[127.5] * 3)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
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
