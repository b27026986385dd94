_base_ = ['./t_estimator_resnet50_1xb16_voc07-448px.py']
train_dataloader = dict(dataset=dict(noise_type='mislabel', noise_rate=0.2))
