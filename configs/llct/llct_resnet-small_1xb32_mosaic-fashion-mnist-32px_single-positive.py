_base_ = ['./llct_resnet-small_1xb32_mosaic-fashion-mnist-32px.py']
train_dataloader = dict(dataset=dict(noise_type='single_positive'))
