# T-estimator (Li et al., NeurIPS 2022) on the digits mosaic: BCE warm-up
# for 3 epochs, then one eval pass over the training set, per-class
# small-loss selection of likely-clean labels, each class's 2x2 transition
# matrix from label co-occurrence (anchor points where the correlations are
# too weak), and importance-reweighted BCE for the remaining epochs.
# noise_type='general': both flip directions are estimated. The estimate
# assumes noise independent across classes given the clean labels (true
# of flip; mislabel and single-positive couple an instance's labels, and
# their rates come out too low: mmbmix/models/utils/transition_estimator.py).
# RandAugment and Mixup as for every compared method (BalanceMix, Appendix D).
_base_ = ['./mixup_resnet-small_mosaic-digits.py']
model = dict(
    head=dict(loss=dict(_delete_=True, type='TransitionReweightedLoss')))
custom_hooks = [
    dict(
        type='TEstimatorHook',
        warmup_epochs=3,
        noise_type='general',
        select_ratio=0.5),
]
