# LL-R and LL-Ct (Kim et al., CVPR 2022): the largest-loss fraction
# delta(t) = (t - 1) * delta_rel of a batch's negative labels is rejected
# (LL-R) or treated as positive for the step (LL-Ct). delta_rel as the
# BalanceMix paper ran it (Appendix D): 0.04% per epoch on COCO (50 epochs),
# 0.1% on VOC (20), 0.05% on DeepFashion (40), so that the final ratio is the
# 2% of Kim et al.'s 0.2% over 10 epochs; 1% on the 12-epoch mosaics (the
# *_short losses).
#     model = dict(head=dict(loss={{_base_.llr_loss}}))
llr_loss = dict(
    _delete_=True,
    type='LargeLossRejectionLoss',
    mode='reject',
    delta_rel=0.0004,  # COCO
    start_epoch=1)
llct_loss = dict(llr_loss, mode='correct_temporary')
llr_loss_voc = dict(llr_loss, delta_rel=0.001)
llct_loss_voc = dict(llct_loss, delta_rel=0.001)
llr_loss_deepfashion = dict(llr_loss, delta_rel=0.0005)
llct_loss_deepfashion = dict(llct_loss, delta_rel=0.0005)
llr_loss_short = dict(llr_loss, delta_rel=0.01)
llct_loss_short = dict(llct_loss, delta_rel=0.01)
