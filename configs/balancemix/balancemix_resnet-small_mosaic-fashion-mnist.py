# BalanceMix on the fashion-mnist mosaic (clean labels), from scratch on CPU.
_base_ = ['../baseline/bce_resnet-small_mosaic-fashion-mnist.py']
train_dataloader = dict(batch_sampler=dict(type='DualBatchSampler'))
data_preprocessor = dict(
    type='BalanceMixDataPreprocessor',
    mix=dict(type='MinorityMixup', alpha=4.0))
model = dict(
    head=dict(type='BalanceMixHead', loss=dict(_delete_=True, type='BalanceMixLoss')))
custom_hooks = [
    dict(
        type='LabelManagerHook',
        warmup_epochs=3,
        relabel_threshold=0.975,
        shot_thresholds=(500, 100)),
    dict(type='EpochSeedHook'),
]
