_base_ = ['./balancemix_resnet-small_1xb32_mosaic-fashion-mnist-32px.py']
train_dataloader = dict(dataset=dict(noise_type='flip', noise_rate=0.2))
