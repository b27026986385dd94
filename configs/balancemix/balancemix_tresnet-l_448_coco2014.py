# BalanceMix with TResNet-L (timm, through mmpretrain's TIMMBackbone) at
# 448 px (Table 6; `pip install timm`).
_base_ = ['./balancemix_r50_448_coco2014.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='TIMMBackbone',
        model_name='tresnet_l',
        pretrained=True,
        num_classes=0,
        global_pool=''),
    head=dict(in_channels=2432))
