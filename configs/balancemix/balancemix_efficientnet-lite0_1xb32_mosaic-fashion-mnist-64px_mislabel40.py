_base_ = ['./balancemix_efficientnet-lite0_1xb32_mosaic-fashion-mnist-64px.py']
train_dataloader = dict(dataset=dict(noise_type='mislabel', noise_rate=0.4))
