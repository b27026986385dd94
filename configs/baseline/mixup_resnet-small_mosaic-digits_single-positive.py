_base_ = ['./mixup_resnet-small_mosaic-digits.py']

# Single positive label (all others missing) injected into the training
# labels only (BALANCEMIX.md, Eq. 11).
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LabelNoiseDataset',
        dataset={{_base_.train_dataloader.dataset}},
        noise_type='single_positive',
        noise_rate=0.0,
        seed=0))
