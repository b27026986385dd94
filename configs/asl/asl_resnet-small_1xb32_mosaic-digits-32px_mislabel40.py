_base_ = ['./asl_resnet-small_1xb32_mosaic-digits-32px.py']
train_dataloader = dict(dataset=dict(noise_type='mislabel', noise_rate=0.4))
