# Mosaic Fashion-MNIST at 64 px for ImageNet-pretrained backbones (the
# paper's regime): the mosaic of mosaic_fashion_mnist.py on a 64 px canvas
# with the objects at random positions and scales (layout='free': on the
# 2x2 grid, mixing two mosaics stacks their objects on the same cells),
# RGB in [-1, 1] as the EfficientNet-Lite weights expect, and no
# RandAugment (on small grey tiles it costs plain BCE); the figures behind
# both choices: docs/implementation_notes.md. The horizontal flip keeps the
# two views of Eq. 9 independent augmentations.
_base_ = ['./mosaic_fashion_mnist.py']
data_root = 'data/mosaic_fashion_mnist_64px'
mosaic = dict(tile_size=32, layout='free')
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
