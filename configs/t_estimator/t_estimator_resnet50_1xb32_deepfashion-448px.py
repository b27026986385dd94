# T-estimator (Shikun et al., 2022; transition-matrix loss correction), one
# of the five methods BalanceMix compares with, with Mixup and the paper's
# decoder head and schedule (Appendix D); its BCE warm-up is the dataset's
# warm-up (5 epochs).
_base_ = [
    '../mixup/mixup_resnet50_1xb32_deepfashion-448px.py',
    '../_base_/methods/t_estimator.py'
]
model = dict(head=dict(loss={{_base_.t_estimator_loss}}))
default_hooks = {{_base_.t_estimator_hooks_warmup5}}
