_base_ = ['./bce_resnet-small_mosaic-digits.py']

# 'flip' noise at rate 0.4 in the training labels only.
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LabelNoiseDataset',
        dataset={{_base_.train_dataloader.dataset}},
        noise_type='flip',
        noise_rate=0.4,
        seed=0))
