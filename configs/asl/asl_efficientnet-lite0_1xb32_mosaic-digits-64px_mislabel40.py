_base_ = ['./asl_efficientnet-lite0_1xb32_mosaic-digits-64px.py']
train_dataloader = dict(dataset=dict(noise_type='mislabel', noise_rate=0.4))
