# BCE + Mixup on COCO 2014 (BalanceMix Table 5, first variant): mmpretrain's
# batch Mixup, lambda ~ Beta(1, 1), on the one-hot targets
# (data_preprocessor.to_onehot=True).
_base_ = ['./bce_r50_448_coco2014.py']
model = dict(train_cfg=dict(augments=dict(type='Mixup', alpha=1.0)))
