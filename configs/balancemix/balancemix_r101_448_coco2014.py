# BalanceMix with ResNet-101 at 448 px (Table 6 backbone; the paper adds an
# ML-Decoder head on top, which mmbmix does not ship).
_base_ = ['./balancemix_r50_448_coco2014.py']
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet101_8xb32_in1k_20210831-539c63f8.pth')))
