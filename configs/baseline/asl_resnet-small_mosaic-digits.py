# ASL (Ben-Baruch et al., ICCV 2021) on the digits mosaic, with the ASL paper's
# gamma_pos=0, gamma_neg=4, clip=0.05.
# RandAugment and Mixup as for every compared method (BalanceMix, Appendix D).
_base_ = ['./mixup_resnet-small_mosaic-digits.py']
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='AsymmetricLoss',
            gamma_pos=0.0,
            gamma_neg=4.0,
            clip=0.05)))
