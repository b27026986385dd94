_base_ = ['./asl_resnet50_1xb32_coco2014-448px.py']
train_dataloader = dict(dataset=dict(noise_type='single_positive'))
