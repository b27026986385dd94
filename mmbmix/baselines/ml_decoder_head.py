"""ML-Decoder classification head.

Ridnik et al., "ML-Decoder: Scalable and Versatile Classification Head", WACV
2023; the head under the state-of-the-art figures of BalanceMix (Song et
al., AAAI 2024; Table 6).
"""
import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mmbmix.models.heads import BalanceMixHead


class GroupFC(nn.Module):
    """Group fully-connected layer of ML-Decoder.

    Query ``q`` has its own ``(D, g)`` weight and gives the logits of classes
    ``q * g`` to ``q * g + g - 1``, ``g = ceil(K / Q)``; the ``Q * g`` outputs
    are truncated to ``K`` and a per-class bias is added.

    Args:
        num_queries (int): Q.
        embed_dims (int): D.
        num_classes (int): K.
    """

    def __init__(self, num_queries: int, embed_dims: int,
                 num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.group_size = math.ceil(num_classes / num_queries)
        self.weight = nn.Parameter(
            torch.empty(num_queries, embed_dims, self.group_size))
        self.bias = nn.Parameter(torch.zeros(num_classes))
        nn.init.xavier_normal_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Q, D)`` decoded queries to ``(B, K)`` logits."""
        out = torch.einsum('bqd,qdg->bqg', x, self.weight).flatten(1)
        return out[:, :self.num_classes] + self.bias


@MODELS.register_module()
class MLDecoderHead(BalanceMixHead):
    """ML-Decoder: queries attend to the spatial tokens of the backbone.

    The last feature map ``(B, C, H, W)`` (or tokens ``(B, N, C)``; configs
    use ``neck=None``) is projected to ``embed_dims`` (linear + ReLU);
    ``min(num_queries, K)`` fixed (non-learnable) query embeddings go through
    one decoder layer without self-attention (cross-attention and
    feed-forward, each with residual, dropout and layer norm: timm's
    ``TransformerDecoderLayerOptimal``, the authors' layer), and the group
    fully-connected layer (:class:`GroupFC`) turns them into ``K`` logits.

    The loss path is :class:`BalanceMixHead`'s: with BalanceMix's
    ``gt_score`` and ``label_weight`` in the data samples they reach the
    loss (:class:`~mmbmix.models.losses.BalanceMixLoss`); otherwise it is
    mmpretrain's, so BCE (``CrossEntropyLoss(use_sigmoid=True)``) and
    ``AsymmetricLoss`` work as with a linear head. ``self.fc`` is the group
    FC, so ``forward = fc(pre_logits(feats))`` as in the linear head.

    Args:
        num_classes (int): number of classes K.
        in_channels (int): channels C of the feature map.
        num_queries (int): number of queries; at most K are used.
            Defaults to 100.
        embed_dims (int): decoder width D. Defaults to 768.
        num_heads (int): attention heads. Defaults to 8.
        feedforward_channels (int): hidden width of the feed-forward.
            Defaults to 2048.
        dropout (float): dropout of the decoder layer. Defaults to 0.1.
        loss (dict): loss config. Defaults to
            ``dict(type='CrossEntropyLoss', use_sigmoid=True)``.
        init_cfg (dict, optional): init config; the layers' own (PyTorch
            defaults, Xavier for the group FC, N(0, 1) queries) when None.
            Defaults to None.
        **kwargs: ``thr`` and ``topk`` of ``MultiLabelClsHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_queries: int = 100,
                 embed_dims: int = 768,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 dropout: float = 0.1,
                 loss: dict = dict(type='CrossEntropyLoss', use_sigmoid=True),
                 init_cfg=None,
                 **kwargs) -> None:
        super().__init__(
            num_classes, in_channels, loss=loss, init_cfg=init_cfg, **kwargs)
        if num_queries < 1:
            raise ValueError('MLDecoderHead: num_queries must be >= 1, got '
                             f'{num_queries!r}')
        self.num_queries = min(num_queries, num_classes)
        self.proj = nn.Linear(in_channels, embed_dims)
        self.query_embed = nn.Embedding(self.num_queries, embed_dims)
        self.query_embed.requires_grad_(False)
        try:
            from timm.layers.ml_decoder import TransformerDecoderLayerOptimal
        except ImportError as e:
            raise ImportError(
                'MLDecoderHead needs timm (pip install timm, or mmbmix[timm])'
                f': {e}') from None
        self.decoder = TransformerDecoderLayerOptimal(embed_dims, num_heads,
                                                      feedforward_channels,
                                                      dropout)
        self.fc = GroupFC(self.num_queries, embed_dims, num_classes)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The decoded queries ``(B, Q, D)`` of the last feature map."""
        x = feats[-1]
        if x.dim() == 4:
            x = x.flatten(2).transpose(1, 2)
        memory = F.relu(self.proj(x)).transpose(0, 1)  # (N, B, D)
        query = self.query_embed.weight.unsqueeze(1).expand(-1, x.size(0),
                                                            -1)  # (Q, B, D)
        return self.decoder(query, memory).transpose(0, 1)
