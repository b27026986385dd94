# BalanceMix (Song et al., AAAI 2024): differs from its BCE twin only in the
# method (configs/_base_/methods/balancemix.py).
_base_ = [
    '../bce/bce_resnet50_1xb16_voc07-448px.py',
    '../_base_/methods/balancemix.py'
]
train_dataloader = dict(batch_sampler={{_base_.balancemix_batch_sampler}})
data_preprocessor = {{_base_.balancemix_data_preprocessor}}
model = dict(head={{_base_.balancemix_decoder_head}})
default_hooks = {{_base_.balancemix_hooks}}
