"""Multi-label linear head that feeds the BalanceMix (Song et al., AAAI 2024)
loss."""
from typing import List

import torch
from mmpretrain.models.heads import MultiLabelLinearClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class BalanceMixHead(MultiLabelLinearClsHead):
    """``MultiLabelLinearClsHead`` whose loss receives per-label weights.

    The mixed samples made by
    :class:`~mmbmix.models.utils.BalanceMixDataPreprocessor` carry
    ``gt_score`` (the mixed target) and ``label_weight`` (Eq. 10's weight of
    each label); this head passes both to its loss, by default
    :class:`~mmbmix.models.losses.BalanceMixLoss`. Prediction is unchanged.

    Args:
        num_classes (int): number of classes.
        in_channels (int): channels of the input feature.
        loss (dict): loss config. Defaults to ``dict(type='BalanceMixLoss')``.
        **kwargs: the other arguments of ``MultiLabelLinearClsHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 loss: dict = dict(type='BalanceMixLoss'),
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, loss=loss, **kwargs)

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: List[DataSample], **kwargs) -> dict:
        if 'gt_score' not in data_samples[0]:
            return super()._get_loss(cls_score, data_samples, **kwargs)
        target = torch.stack([s.gt_score for s in data_samples]).float()
        if 'label_weight' in data_samples[0]:
            kwargs['weight'] = torch.stack(
                [s.label_weight for s in data_samples])
        loss = self.loss_module(
            cls_score, target, avg_factor=cls_score.size(0), **kwargs)
        return dict(loss=loss)
