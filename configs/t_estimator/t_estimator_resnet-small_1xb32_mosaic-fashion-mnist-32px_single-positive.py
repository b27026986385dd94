_base_ = ['./t_estimator_resnet-small_1xb32_mosaic-fashion-mnist-32px.py']
train_dataloader = dict(dataset=dict(noise_type='single_positive'))
default_hooks = dict(t_estimator=dict(noise_type='missing'))
