# Mosaic Fashion-MNIST: the mosaic of mosaic_digits.py with real 28x28
# Fashion-MNIST images shrunk to 16x16 instead of digits (same canvases,
# class counts and pixel statistics, about 48 / 75); test images from the
# official t10k file. Needs the Debian package dataset-fashion-mnist
# (apt-get install dataset-fashion-mnist). A garment mirrored is the same
# garment, so the training pipeline adds a horizontal flip.
_base_ = ['./mosaic_digits.py']
data_root = 'data/mosaic_fashion_mnist'
source = 'fashion_mnist'
mosaic = dict(source=source)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies={{_base_.mosaic_policies}},
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        hparams=dict(pad_val=0)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            data_root=data_root, source=source, pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(data_root=data_root, source=source))
test_dataloader = val_dataloader
