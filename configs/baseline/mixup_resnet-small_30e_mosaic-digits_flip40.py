# Mixup + BCE with the README demo's data, pipeline and schedule (see
# bce_resnet-small_30e_mosaic-digits_flip40.py): what BalanceMix adds on top
# of mixing alone.
_base_ = ['./mixup_resnet-small_mosaic-digits_flip40.py']
train_dataloader = dict(
    dataset=dict(
        dataset=dict(pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(32, 32)),
            dict(type='PackInputs'),
        ])))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=30, by_epoch=True, begin=0, end=30)
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=30)
