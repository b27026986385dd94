_base_ = ['./coteaching_resnet-small_mosaic-digits.py']

# Mislabeling (class-dependent) at 40% injected into the training labels only
# (BALANCEMIX.md, Eq. 11).
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LabelNoiseDataset',
        dataset={{_base_.train_dataloader.dataset}},
        noise_type='mislabel',
        noise_rate=0.4,
        seed=0))
# Co-teaching's forget rate tau: the noise rate.
model = dict(forget_rate=0.4)
