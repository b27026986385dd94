# ASL (Ben-Baruch et al., ICCV 2021) with Mixup, as every method BalanceMix
# compares with (its Appendix D).
_base_ = [
    '../mixup/mixup_efficientnet-lite0_1xb32_mosaic-digits-64px.py',
    '../_base_/methods/asl.py'
]
model = dict(head=dict(loss={{_base_.asl_loss}}))
