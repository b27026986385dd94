# The Fashion-MNIST mosaic's training pipeline without RandAugment
# (horizontal flips kept), for the configs of benchmarks/regime/fashion_*.
fashion_noaug_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
