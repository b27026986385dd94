# T-estimator (loss correction with an estimated transition matrix, the
# noisy-label baseline of BalanceMix Table 8): after warmup_epochs of BCE, the
# transition rates are estimated from the select_ratio most confident
# instances and the loss is re-weighted with them; noise_type 'missing' for
# single positive labels.
t_estimator_loss = dict(_delete_=True, type='TransitionReweightedLoss')
t_estimator_hooks = dict(
    t_estimator=dict(
        type='TEstimatorHook',
        warmup_epochs=3,
        noise_type='general',
        select_ratio=0.5))
# the paper's datasets: the warm-up of Appendix D (VOC and DeepFashion 5
# epochs, COCO 10)
t_estimator_hooks_warmup5 = dict(
    t_estimator=dict(t_estimator_hooks['t_estimator'], warmup_epochs=5))
t_estimator_hooks_warmup10 = dict(
    t_estimator=dict(t_estimator_hooks['t_estimator'], warmup_epochs=10))
