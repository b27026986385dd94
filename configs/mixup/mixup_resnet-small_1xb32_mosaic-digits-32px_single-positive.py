_base_ = ['./mixup_resnet-small_1xb32_mosaic-digits-32px.py']
train_dataloader = dict(dataset=dict(noise_type='single_positive'))
