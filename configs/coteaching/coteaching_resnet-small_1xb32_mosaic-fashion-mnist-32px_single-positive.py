_base_ = ['./coteaching_resnet-small_1xb32_mosaic-fashion-mnist-32px.py']
train_dataloader = dict(dataset=dict(noise_type='single_positive'))
model = dict(forget_rate=0.2)
