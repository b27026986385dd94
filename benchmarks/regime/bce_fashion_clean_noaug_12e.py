# BCE on the Fashion-MNIST mosaic with clean labels, RandAugment removed
# (horizontal flips kept), 12 epochs: the ceiling of the noisy runs.
_base_ = ['../../configs/baseline/bce_resnet-small_mosaic-fashion-mnist.py']
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(32, 32)),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='PackInputs'),
    ]))
