# BCE on the Fashion-MNIST mosaic with mislabel 40%, RandAugment removed
# (horizontal flips kept), 12 epochs: the BalanceMix twin is
# balancemix_fashion_mislabel40_noaug_12e.py.
_base_ = [
    '../../configs/baseline/bce_resnet-small_mosaic-fashion-mnist_mislabel40.py',
    './_base_/fashion_noaug.py'
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline={{_base_.fashion_noaug_pipeline}})))
