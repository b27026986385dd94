_base_ = ['./balancemix_resnet50_1xb16_voc07-448px.py']
train_dataloader = dict(dataset=dict(noise_type='single_positive'))
# Eq. 9's threshold for single positive labels (paper, Appendix C)
default_hooks = dict(label_manager=dict(relabel_threshold=0.55))
