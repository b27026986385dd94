# Mixup on the Fashion-MNIST mosaic with mislabel 40%, RandAugment removed
# (horizontal flips kept), 12 epochs: the BalanceMix twin is
# balancemix_fashion_mislabel40_noaug_12e.py.
_base_ = ['../../configs/baseline/mixup_resnet-small_mosaic-fashion-mnist_mislabel40.py']
train_dataloader = dict(
    dataset=dict(
        dataset=dict(pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(32, 32)),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='PackInputs'),
        ])))
