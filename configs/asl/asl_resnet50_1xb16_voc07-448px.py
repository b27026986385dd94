# ASL (Ben-Baruch et al., ICCV 2021) with Mixup, as every method BalanceMix
# compares with (its Appendix D: gamma+ 0, gamma- 4, margin 0.05).
_base_ = [
    '../mixup/mixup_resnet50_1xb16_voc07-448px.py', '../_base_/methods/asl.py'
]
model = dict(head=dict(loss={{_base_.asl_loss}}))
