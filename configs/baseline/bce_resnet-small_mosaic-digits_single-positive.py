_base_ = ['./bce_resnet-small_mosaic-digits.py']

# 'single_positive' noise at rate 0.0 in the training labels only.
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LabelNoiseDataset',
        dataset={{_base_.train_dataloader.dataset}},
        noise_type='single_positive',
        noise_rate=0.0,
        seed=0))
