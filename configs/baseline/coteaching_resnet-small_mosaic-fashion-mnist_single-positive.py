_base_ = ['./coteaching_resnet-small_mosaic-fashion-mnist.py']

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
# Co-teaching's forget rate tau: no noise rate exists for single positive
# labels:
# 0.2 by decision.
model = dict(forget_rate=0.2)
