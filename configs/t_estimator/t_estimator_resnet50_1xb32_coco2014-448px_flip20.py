_base_ = ['./t_estimator_resnet50_1xb32_coco2014-448px.py']
train_dataloader = dict(dataset=dict(noise_type='flip', noise_rate=0.2))
