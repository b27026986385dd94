# The 30-epoch from-scratch digits demo of earlier READMEs.
_base_ = [
    './balancemix_resnet-small_1xb32_mosaic-digits-32px_flip40.py',
    '../_base_/schedules/mosaic_digits_demo.py'
]
train_dataloader = dict(
    dataset=dict(dataset=dict(pipeline={{_base_.demo_train_pipeline}})))
param_scheduler = {{_base_.demo_param_scheduler}}
train_cfg = {{_base_.demo_train_cfg}}
default_hooks = dict(label_manager=dict(warmup_epochs=8))
