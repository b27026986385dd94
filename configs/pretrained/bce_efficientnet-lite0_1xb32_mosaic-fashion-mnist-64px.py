# Plain BCE fine-tuning ImageNet EfficientNet-Lite0 on the 64 px
# Fashion-MNIST mosaic (clean labels): the pretrained regime's baseline.
_base_ = [
    '../_base_/datasets/mosaic_fashion_mnist_64px.py',
    '../_base_/models/efficientnet_lite0_pretrained.py',
    '../_base_/schedules/mosaic_finetune.py', '../_base_/default_runtime.py'
]
default_hooks = dict(logger=dict(interval=20))
