# ASL (Ben-Baruch et al., ICCV 2021) with its paper's gamma_pos=0,
# gamma_neg=4, clip=0.05: model = dict(head=dict(loss={{_base_.asl_loss}})).
asl_loss = dict(
    _delete_=True,
    type='AsymmetricLoss',
    gamma_pos=0.0,
    gamma_neg=4.0,
    clip=0.05)
