# LL-Ct (Kim et al., CVPR 2022, large loss temporary correction) with Mixup.
_base_ = [
    '../mixup/mixup_resnet-small_1xb32_mosaic-digits-32px.py',
    '../_base_/methods/llr.py'
]
model = dict(head=dict(loss={{_base_.llct_loss_short}}))
