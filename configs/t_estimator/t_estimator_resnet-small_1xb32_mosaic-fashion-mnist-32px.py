# T-estimator (transition-matrix loss correction, BalanceMix Table 8) with
# Mixup.
_base_ = [
    '../mixup/mixup_resnet-small_1xb32_mosaic-fashion-mnist-32px.py',
    '../_base_/methods/t_estimator.py'
]
model = dict(head=dict(loss={{_base_.t_estimator_loss}}))
default_hooks = {{_base_.t_estimator_hooks}}
