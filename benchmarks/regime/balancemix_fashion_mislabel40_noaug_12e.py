# BalanceMix (warm-up 3), Fashion-MNIST mosaic mislabel 40%, RandAugment
# removed (horizontal flips kept), 12 epochs.
_base_ = [
    '../../configs/balancemix/balancemix_resnet-small_mosaic-fashion-mnist_mislabel40.py',
    './_base_/fashion_noaug.py'
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline={{_base_.fashion_noaug_pipeline}})))
