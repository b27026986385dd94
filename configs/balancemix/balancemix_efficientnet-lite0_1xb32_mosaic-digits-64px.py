# BalanceMix fine-tuning ImageNet EfficientNet-Lite0 on the 64 px digits
# mosaic; differs from its BCE twin only in the method.
_base_ = ['../bce/bce_efficientnet-lite0_1xb32_mosaic-digits-64px.py']
train_dataloader = dict(batch_sampler=dict(type='DualBatchSampler'))
data_preprocessor = dict(
    type='BalanceMixDataPreprocessor',
    mix=dict(type='MinorityMixup', alpha=4.0))
model = dict(
    head=dict(
        type='BalanceMixHead', loss=dict(_delete_=True,
                                         type='BalanceMixLoss')))
# The hooks sit in default_hooks (mmengine registers every entry), so that
# one line changes one argument, e.g. in a child config
#     default_hooks = dict(label_manager=dict(warmup_epochs=5))
# and custom_hooks stays free for your own.
default_hooks = dict(
    label_manager=dict(
        type='LabelManagerHook',
        warmup_epochs=2,
        relabel_threshold=0.975,
        shot_thresholds=(500, 100)),
    epoch_seed=dict(type='EpochSeedHook'))
