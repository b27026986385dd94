# ASL (Ben-Baruch et al., ICCV 2021; gamma_pos 0, gamma_neg 4, clip 0.05)
# with Mixup, as every method BalanceMix compares with (its Appendix D).
_base_ = ['../mixup/mixup_efficientnet-lite0_1xb32_mosaic-digits-64px_mislabel40.py']
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='AsymmetricLoss',
            gamma_pos=0.0,
            gamma_neg=4.0,
            clip=0.05)))
