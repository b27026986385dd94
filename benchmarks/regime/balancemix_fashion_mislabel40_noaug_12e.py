# BalanceMix (warm-up 3), Fashion-MNIST mosaic mislabel 40%, RandAugment
# removed (horizontal flips kept), 12 epochs.
_base_ = ['../../configs/balancemix/balancemix_resnet-small_mosaic-fashion-mnist_mislabel40.py']
train_dataloader = dict(
    dataset=dict(
        dataset=dict(pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(32, 32)),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='PackInputs'),
        ])))
