# BalanceMix fine-tuning ImageNet EfficientNet-Lite0 on the 64 px
# Fashion-MNIST mosaic (clean labels); differs from its BCE twin only in the
# method.
_base_ = ['./bce_efficientnet-lite0_1xb32_mosaic-fashion-mnist-64px.py']
train_dataloader = dict(batch_sampler=dict(type='DualBatchSampler'))
data_preprocessor = dict(
    type='BalanceMixDataPreprocessor',
    mix=dict(type='MinorityMixup', alpha=4.0))
model = dict(
    head=dict(
        type='BalanceMixHead', loss=dict(_delete_=True,
                                         type='BalanceMixLoss')))
custom_hooks = [
    dict(
        type='LabelManagerHook',
        warmup_epochs=2,
        relabel_threshold=0.975,
        shot_thresholds=(500, 100)),
    dict(type='EpochSeedHook'),
]
