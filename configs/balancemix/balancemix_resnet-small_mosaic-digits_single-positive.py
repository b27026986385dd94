_base_ = ['./balancemix_resnet-small_mosaic-digits.py']

# 'single_positive' noise at rate 0.0 in the training labels only.
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LabelNoiseDataset',
        dataset={{_base_.train_dataloader.dataset}},
        noise_type='single_positive',
        noise_rate=0.0,
        seed=0))

# Eq. 9 with epsilon 0.55 for single positive labels.
custom_hooks = [
    dict(
        type='LabelManagerHook',
        warmup_epochs=3,
        relabel_threshold=0.55,
        shot_thresholds=(500, 100)),
    dict(type='EpochSeedHook'),
]
