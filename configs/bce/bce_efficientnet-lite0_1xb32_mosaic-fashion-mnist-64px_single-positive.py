_base_ = ['./bce_efficientnet-lite0_1xb32_mosaic-fashion-mnist-64px.py']
train_dataloader = dict(dataset=dict(noise_type='single_positive'))
