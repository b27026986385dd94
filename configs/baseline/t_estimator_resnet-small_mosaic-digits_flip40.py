_base_ = ['./t_estimator_resnet-small_mosaic-digits.py']

# Random flipping (class-independent) at 40% injected into the training
# labels only (BALANCEMIX.md, Eq. 11).
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LabelNoiseDataset',
        dataset={{_base_.train_dataloader.dataset}},
        noise_type='flip',
        noise_rate=0.4,
        seed=0))
