# BCE on the Fashion-MNIST mosaic with clean labels, RandAugment removed
# (horizontal flips kept), 12 epochs: the ceiling of the noisy runs.
_base_ = [
    '../../configs/baseline/bce_resnet-small_mosaic-fashion-mnist.py',
    './_base_/fashion_noaug.py'
]
train_dataloader = dict(dataset=dict(pipeline={{_base_.fashion_noaug_pipeline}}))
