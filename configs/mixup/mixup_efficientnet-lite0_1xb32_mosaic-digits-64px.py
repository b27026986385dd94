# BCE + mmpretrain's batch Mixup, lambda ~ Beta(1, 1): BalanceMix Table 5's
# first row.
_base_ = ['../bce/bce_efficientnet-lite0_1xb32_mosaic-digits-64px.py']
model = dict(train_cfg=dict(augments=dict(type='Mixup', alpha=1.0)))
