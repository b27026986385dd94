_base_ = ['../baseline/bce_r50_448_coco2014.py']

# BalanceMix on top of the baseline (paper, Eq. 2-10):
# the dataloader yields a random half and a minority half (Eq. 4), the data
# preprocessor refines the labels and mixes the halves (Eq. 5), the head
# weights each label's BCE (Eq. 10) and the label manager refits the
# per-class mixtures and re-labels once per epoch (Eq. 6-9).
train_dataloader = dict(batch_sampler=dict(type='DualBatchSampler'))
data_preprocessor = dict(
    type='BalanceMixDataPreprocessor',
    mix=dict(type='MinorityMixup', alpha=4.0))
model = dict(
    head=dict(type='BalanceMixHead', loss=dict(_delete_=True, type='BalanceMixLoss')))
custom_hooks = [
    dict(
        type='LabelManagerHook',
        warmup_epochs=10,
        relabel_threshold=0.975,
        use_minority_sampler=True,
        use_clean=True,
        use_relabel=True,
        use_ambiguous=True),
    dict(type='EpochSeedHook'),
]
