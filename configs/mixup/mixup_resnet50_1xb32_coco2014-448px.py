# BCE + mmpretrain's batch Mixup, lambda ~ Beta(1, 1): BalanceMix Table 5's
# first row, with the paper's decoder head and schedule (Appendix D).
_base_ = ['../bce/bce_resnet50_1xb32_coco2014-448px.py']
model = dict(train_cfg=dict(augments=dict(type='Mixup', alpha=1.0)))
