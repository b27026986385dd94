_base_ = ['./bce_efficientnet-lite0_1xb32_mosaic-fashion-mnist-64px.py']
# 'mislabel' noise at rate 0.4 in the training labels only.
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LabelNoiseDataset',
        dataset={{_base_.train_dataloader.dataset}},
        noise_type='mislabel',
        noise_rate=0.4,
        seed=0))
