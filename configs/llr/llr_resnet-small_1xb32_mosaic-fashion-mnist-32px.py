# LL-R (Kim et al., CVPR 2022, large loss rejection) with Mixup.
_base_ = [
    '../mixup/mixup_resnet-small_1xb32_mosaic-fashion-mnist-32px.py',
    '../_base_/methods/llr.py'
]
model = dict(head=dict(loss={{_base_.llr_loss_short}}))
