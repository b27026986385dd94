_base_ = ['./t_estimator_resnet-small_mosaic-fashion-mnist.py']

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
# The user knows the noise is missing labels: a given positive is always
# right (rho_01 = 0), only rho_10 is estimated.
custom_hooks = [
    dict(
        type='TEstimatorHook',
        warmup_epochs=3,
        noise_type='missing',
        select_ratio=0.5),
]
