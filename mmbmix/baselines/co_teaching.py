"""Co-teaching (Han et al., NeurIPS 2018) for multi-label classification.

A comparison baseline of BalanceMix (Song et al., AAAI 2024; Tables 1-4,
"Noisy Labels" group), at the instance level as the BalanceMix paper describes
it: each instance, with all its labels, is selected or dropped as a whole.
"""
import copy
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmpretrain.models import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample, label_to_onehot

PREDICT_WITH = ('net1', 'mean')
SELECTIONS = ('small_loss', 'gmm')


def co_teaching_select(loss1: torch.Tensor, loss2: torch.Tensor,
                       num_remember: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Cross selection of small-loss instances.

    Args:
        loss1 (Tensor): ``(B, )`` per-instance losses of network 1.
        loss2 (Tensor): ``(B, )`` per-instance losses of network 2.
        num_remember (int): instances each network is trained on.

    Returns:
        tuple[Tensor, Tensor]: indices of the instances that update network
        1 (the smallest ``loss2``, chosen by its peer) and network 2 (the
        smallest ``loss1``).
    """
    idx_net1 = loss2.detach().topk(num_remember, largest=False).indices
    idx_net2 = loss1.detach().topk(num_remember, largest=False).indices
    return idx_net1, idx_net2


def gmm_select(loss: torch.Tensor) -> torch.Tensor:
    """Instances a two-component 1-D GMM on the ``(B,)`` losses calls clean
    (posterior of the smaller-mean component above 0.5; the BalanceMix
    paper's Co-teaching, Appendix D), as indices; all of them where the
    losses cannot be split (too few, or too uniform)."""
    from mmbmix.models.utils import GMM_DEFAULTS, fit_gmm_1d, gmm_posterior
    x = loss.detach().float().cpu()
    groups = torch.zeros(x.numel(), dtype=torch.long)
    options = {k: v for k, v in GMM_DEFAULTS.items() if k != 'split'}
    p_clean = gmm_posterior(x, groups, fit_gmm_1d(x, groups, 1, **options))
    keep = (p_clean > 0.5).nonzero().flatten()
    if keep.numel() == 0:
        keep = torch.arange(x.numel())
    return keep.to(loss.device)


@MODELS.register_module()
class CoTeachingClassifier(ImageClassifier):
    """Two peer networks that teach each other with small-loss instances.

    ``backbone``, ``neck`` and ``head`` are built twice from the same config:
    network 1 is ``backbone / neck / head`` (so its weights load into a plain
    :class:`ImageClassifier`), network 2 is ``backbone2 / neck2 / head2``;
    the two are initialised independently (different random draws; a
    ``Pretrained`` backbone init applies to both). Per instance the loss is
    the sum over classes of BCE with the (possibly Mixup-soft) targets, as in
    BalanceMix Eq. 1. Each step, network 1 is trained on the ``R(t)``
    fraction of the batch with the smallest loss of network 2, and vice
    versa, where ``R(t) = 1 - min(t / T_k * tau, tau)``, ``t`` the 0-based
    epoch (read from the runner's ``MessageHub`` ``'epoch'``, which mmengine's
    ``RuntimeInfoHook`` sets before every training epoch), ``T_k =
    num_gradual`` and ``tau = forget_rate``; ``round(R(t) * B)`` instances,
    at least one, are kept. Losses are ``loss_net1`` and ``loss_net2`` (mean
    over the kept instances; mmengine sums both), and ``remember_rate`` is
    logged. ``selection='gmm'`` keeps instead the instances a two-component
    GMM on the peer's batch losses calls clean (:func:`gmm_select`; the
    BalanceMix paper's configuration, Appendix D; ``forget_rate`` and
    ``num_gradual`` are then unused).

    The head must return logits from ``head(feats)`` (e.g.
    ``MultiLabelLinearClsHead``); its own loss module is not used.

    Args:
        backbone (dict): backbone config, built for both networks.
        neck (dict, optional): neck config. Defaults to None.
        head (dict): head config.
        forget_rate (float): tau in [0, 1), the assumed noise rate.
            Defaults to 0.2.
        num_gradual (int): T_k, epochs over which the forget rate grows
            linearly from 0 to tau; 0 forgets tau from the start.
            Defaults to 10.
        predict_with (str): ``'net1'`` (network 1 alone, the same test-time
            size as the other methods; the default) or ``'mean'`` (mean of
            the two networks' sigmoid scores).
        selection (str): ``'small_loss'`` (Han et al.'s ``R(t)``) or
            ``'gmm'``. Defaults to ``'small_loss'``.
        **kwargs: ``pretrained``, ``train_cfg`` (e.g. Mixup batch augments),
            ``data_preprocessor`` and ``init_cfg`` of
            :class:`ImageClassifier`.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 forget_rate: float = 0.2,
                 num_gradual: int = 10,
                 predict_with: str = 'net1',
                 selection: str = 'small_loss',
                 **kwargs) -> None:
        if head is None:
            raise ValueError('CoTeachingClassifier: head is required')
        if not 0.0 <= forget_rate < 1.0:
            raise ValueError('CoTeachingClassifier: forget_rate must be in '
                             f'[0, 1), got {forget_rate!r}')
        if int(num_gradual) != num_gradual or num_gradual < 0:
            raise ValueError('CoTeachingClassifier: num_gradual must be a '
                             f'non-negative integer, got {num_gradual!r}')
        if selection not in SELECTIONS:
            raise ValueError('CoTeachingClassifier: selection must be one of '
                             f'{SELECTIONS}, got {selection!r}')
        if predict_with not in PREDICT_WITH:
            raise ValueError('CoTeachingClassifier: predict_with must be one '
                             f'of {PREDICT_WITH}, got {predict_with!r}')
        super().__init__(
            backbone=copy.deepcopy(backbone),
            neck=copy.deepcopy(neck),
            head=copy.deepcopy(head),
            **kwargs)
        self.backbone2 = MODELS.build(copy.deepcopy(backbone))
        self.neck2 = MODELS.build(copy.deepcopy(neck)) if neck else None
        self.head2 = MODELS.build(copy.deepcopy(head))
        self.forget_rate = float(forget_rate)
        self.num_gradual = int(num_gradual)
        self.predict_with = predict_with
        self.selection = selection

    def forget_rate_at(self, epoch: Optional[int] = None) -> float:
        """``min(t / T_k * tau, tau)`` at 0-based ``epoch`` (default: the
        runner's current epoch)."""
        if epoch is None:
            epoch = MessageHub.get_current_instance().get_info('epoch', 0)
        if self.num_gradual == 0:
            return self.forget_rate
        return self.forget_rate * min(epoch / self.num_gradual, 1.0)

    def num_remember(self,
                     batch_size: int,
                     epoch: Optional[int] = None) -> int:
        """Instances each network is trained on: ``round(R(t) * B)``."""
        keep = round((1.0 - self.forget_rate_at(epoch)) * batch_size)
        return min(max(keep, 1), batch_size)

    def extract_feat_net2(self, inputs: torch.Tensor):
        """Neck features of network 2."""
        x = self.backbone2(inputs)
        return self.neck2(x) if self.neck2 is not None else x

    def forward_pair(
            self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(B, K)`` logits of network 1 and network 2."""
        return (self.head(self.extract_feat(inputs)),
                self.head2(self.extract_feat_net2(inputs)))

    @staticmethod
    def targets(data_samples: List[DataSample],
                num_classes: int) -> torch.Tensor:
        """``(B, K)`` targets: ``gt_score`` (one-hot or Mixup-soft) when the
        preprocessor set it, else the one-hot ``gt_label``."""
        if 'gt_score' in data_samples[0]:
            return torch.stack([s.gt_score.float() for s in data_samples])
        return torch.stack([
            label_to_onehot(s.gt_label, num_classes) for s in data_samples
        ]).float()

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> dict:
        """Co-teaching losses of a batch (vectorized; no per-instance loop)."""
        logits1, logits2 = self.forward_pair(inputs)
        target = self.targets(data_samples, logits1.size(1)).to(logits1)
        loss1 = F.binary_cross_entropy_with_logits(
            logits1, target, reduction='none').sum(1)
        loss2 = F.binary_cross_entropy_with_logits(
            logits2, target, reduction='none').sum(1)
        if self.selection == 'gmm':  # each network: its peer's clean set
            idx1, idx2 = gmm_select(loss2), gmm_select(loss1)
        else:
            keep = self.num_remember(loss1.numel())
            idx1, idx2 = co_teaching_select(loss1, loss2, keep)
        return dict(
            loss_net1=loss1[idx1].mean(),
            loss_net2=loss2[idx2].mean(),
            remember_rate=loss1.new_tensor(
                (idx1.numel() + idx2.numel()) / (2 * loss1.numel())))

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """Predictions of network 1, or of the mean of both networks'
        sigmoid scores (``predict_with='mean'``)."""
        if self.predict_with == 'net1':
            return super().predict(inputs, data_samples, **kwargs)
        logits1, logits2 = self.forward_pair(inputs)
        score = (logits1.sigmoid() + logits2.sigmoid()) / 2
        # the head applies sigmoid to what it gets: hand it the logit
        return self.head._get_predictions(torch.logit(score), data_samples)
