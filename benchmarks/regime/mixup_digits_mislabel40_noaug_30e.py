# Mixup + BCE, digits mislabel40, the demo's regime (no RandAugment, 30 epochs).
_base_ = ['../../configs/baseline/mixup_resnet-small_mosaic-digits_mislabel40.py', '../../configs/_base_/schedules/mosaic_digits_demo.py']
train_dataloader = dict(dataset=dict(dataset=dict(pipeline={{_base_.demo_train_pipeline}})))
param_scheduler = {{_base_.demo_param_scheduler}}
train_cfg = {{_base_.demo_train_cfg}}
