# BalanceMix (Song, Kim, Lee, AAAI 2024), as variables that a config composes
# with its BCE twin (keys of their own: mmengine refuses a key defined by two
# bases):
#     _base_ = ['../bce/bce_<model>_<dataset>.py',
#               '../_base_/methods/balancemix.py']
#     train_dataloader = dict(
#         batch_sampler={{_base_.balancemix_batch_sampler}})
#     data_preprocessor = {{_base_.balancemix_data_preprocessor}}
#     model = dict(head={{_base_.balancemix_head}})
#     default_hooks = {{_base_.balancemix_hooks}}
# The sampler yields a random half and a minority half (Eq. 3-4), the label
# manager decides each batch's labels before its step from two views under
# the current model (Eq. 8-9, Algorithm 1) and refits the per-class mixtures
# once per epoch (Eq. 6-7), the data preprocessor mixes the halves (Eq. 5)
# with the managed labels, and the head weights each label's BCE (Eq. 10).
# The hooks sit in default_hooks, where mmengine merges by name, so that one
# line changes one argument, e.g.
# default_hooks = dict(label_manager=dict(warmup_epochs=5)), and custom_hooks
# stays free for your own.
balancemix_batch_sampler = dict(type='DualBatchSampler')
balancemix_data_preprocessor = dict(
    type='BalanceMixDataPreprocessor',
    mix=dict(type='MinorityMixup', alpha=4.0))
balancemix_head = dict(
    type='BalanceMixHead', loss=dict(_delete_=True, type='BalanceMixLoss'))
# on a decoder head built on BalanceMixHead (MLDecoderHead: the paper
# configs, Appendix D) only the loss changes
balancemix_decoder_head = dict(loss=dict(_delete_=True, type='BalanceMixLoss'))
balancemix_label_manager = dict(
    type='LabelManagerHook', warmup_epochs=5, relabel_threshold=0.975)
# warm-up: VOC and DeepFashion 5 epochs, COCO 10 (paper, Appendix C); the
# mosaics: 3 of 12 epochs from scratch, 2 of 6 when fine-tuning, with shot
# thresholds for 2,000 training images
# an option (docs/implementation_notes.md, "Batch-norm statistics"): the
# batch-norm statistics recomputed on unmixed training images before each
# validation and checkpoint:
#     custom_hooks = [{{_base_.balancemix_unmixed_bn_hook}}]
balancemix_unmixed_bn_hook = dict(type='UnmixedBNHook')
balancemix_hooks = dict(
    label_manager=balancemix_label_manager,
    epoch_seed=dict(type='EpochSeedHook'))
balancemix_hooks_coco = dict(
    balancemix_hooks,
    label_manager=dict(balancemix_label_manager, warmup_epochs=10))
balancemix_hooks_mosaic = dict(
    balancemix_hooks,
    label_manager=dict(
        balancemix_label_manager, warmup_epochs=3, shot_thresholds=(500, 100)))
balancemix_hooks_finetune = dict(
    balancemix_hooks,
    label_manager=dict(
        balancemix_label_manager, warmup_epochs=2, shot_thresholds=(500, 100)))
