# LL-R (Kim et al., CVPR 2022, large loss rejection) with Mixup; delta_rel
# as the BalanceMix paper ran it on this dataset (Appendix D).
_base_ = [
    '../mixup/mixup_resnet50_1xb16_voc07-448px.py', '../_base_/methods/llr.py'
]
model = dict(head=dict(loss={{_base_.llr_loss_voc}}))
