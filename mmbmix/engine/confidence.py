"""Where the label manager's confidences come from (BalanceMix, Song et al.,
AAAI 2024, Eq. 2, 6, 9).

Two sources, each giving the ``(N, K)`` mean sigmoid output of the model on
every training instance, identical on every rank:

- :class:`AuditConfidence`, the paper's: after the epoch, ``num_views``
  eval-mode passes over the training set, each view augmented independently
  by the training pipeline (RandAugment where it has one); Eq. 9's two views
  are two such passes under the same model.
- :class:`OnlineConfidence`: during the epoch, one eval-mode forward of each
  step's random half *before* that step's optimizer update, on the view the
  training pipeline has just made; Eq. 9 then averages over this one view.
"""
import time
from typing import Optional, Tuple

import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpretrain.models.heads import MultiLabelClsHead
from torch import Tensor
from torch.utils.data import DataLoader

from mmbmix.utils import split_dual_batch, split_views


def predict(model, data: dict) -> Tuple[Tensor, Tensor]:
    """Instance indices ``(B,)`` and float64 CPU sigmoid outputs ``(B, K)``
    of one batch, through the model's ``val_step`` (eval transforms of the
    data preprocessor, no mixing). ``data`` is left as it was (the data
    preprocessor writes labels into the samples it is given).

    A classifier with ``extract_feat`` and a multi-label head takes a short
    cut with the same arithmetic: ``sigmoid(head(extract_feat(inputs)))``
    on the preprocessed inputs, without a result ``DataSample`` per image
    (at a batch of 2,048 small images that bookkeeping cost more than the
    forward).
    """
    inner = model.module if is_model_wrapper(model) else model
    head = getattr(inner, 'head', None)
    if isinstance(head, MultiLabelClsHead) and hasattr(inner, 'extract_feat'):
        idx = torch.tensor([s.sample_idx for s in data['data_samples']])
        inputs = inner.data_preprocessor(dict(inputs=data['inputs']),
                                         False)['inputs']
        scores = torch.sigmoid(head(inner.extract_feat(inputs)))
        return idx, scores.double().cpu()
    samples = [s.clone() for s in data['data_samples']]
    outputs = model.val_step(dict(data, data_samples=samples))
    idx = torch.tensor([o.sample_idx for o in outputs])
    scores = torch.stack([o.pred_score for o in outputs])
    return idx, scores.double().cpu()


class AuditConfidence:
    """The audit pass: ``num_views`` augmented views after each epoch.

    Args:
        loader (DataLoader): the training dataloader (its dataset, collate
            function and workers are reused).
        num_views (int): views per instance. Defaults to 2 (Eq. 9).
        batch_size (int, optional): defaults to the random half's size.
        num_workers (int, optional): defaults to the training loader's.
    """

    def __init__(self,
                 loader: DataLoader,
                 num_views: int = 2,
                 batch_size: Optional[int] = None,
                 num_workers: Optional[int] = None) -> None:
        rank, world = get_dist_info()
        workers = loader.num_workers if num_workers is None else num_workers
        self.num_views = num_views
        self.loader = DataLoader(
            loader.dataset,
            batch_size=batch_size or loader.batch_sampler.batch_size,
            sampler=range(rank, len(loader.dataset), world),
            num_workers=workers,
            collate_fn=loader.collate_fn,
            persistent_workers=workers > 0)

    @torch.no_grad()
    def __call__(self, model, shape) -> Tensor:
        """``(N, K)`` float32 mean over the views, summed over ranks."""
        was_training = model.training
        model.eval()
        total = torch.zeros(shape, dtype=torch.float64)
        steps, done = self.num_views * len(self.loader), 0
        every, start = max(steps // 10, 1), time.perf_counter()
        for _ in range(self.num_views):
            for data in self.loader:
                total.index_add_(0, *predict(model, data))
                done += 1
                if done % every == 0 or done == steps:  # about 10 lines
                    spent = time.perf_counter() - start
                    print_log(
                        f'LabelManagerHook: label pass {done}/{steps} '
                        f'batches ({self.num_views} views), {spent:.0f} s, '
                        f'eta {spent * (steps - done) / done:.0f} s',
                        logger='current')
        model.train(was_training)
        all_reduce(total, op='sum')
        return (total / self.num_views).float()


class OnlineConfidence:
    """One view per instance, recorded before the step that trains on it.

    :meth:`record` is called with each training batch before the model's
    ``train_step`` (``before_train_iter``); every instance must pass through
    the random half once per epoch (a random sampler without
    ``drop_last``).

    Args:
        drop_last (bool): the training batch sampler's ``drop_last``; True
            is an error. Defaults to False.
    """

    def __init__(self, drop_last: bool = False) -> None:
        if drop_last:
            raise ValueError("LabelManagerHook: stats_source='online' needs "
                             'train_dataloader.batch_sampler.drop_last='
                             'False (every instance once in the random half)')

    def reset(self, shape) -> None:
        """Start an epoch for ``(N, K)`` labels."""
        self.sum = torch.zeros(shape, dtype=torch.float64)
        self.count = torch.zeros(shape[0], dtype=torch.float64)

    @torch.no_grad()
    def record(self, model, data_batch: dict) -> None:
        """Predict the batch's random half in eval mode."""
        half = {
            key: split_dual_batch(value)[0]
            for key, value in data_batch.items()
        }
        was_training = model.training
        model.eval()
        idx, scores = predict(model, half)
        model.train(was_training)
        self.sum.index_add_(0, idx, scores)
        self.count.index_add_(0, idx, torch.ones(len(idx)).double())

    def __call__(self, model=None, shape=None) -> Tensor:
        """``(N, K)`` float32 mean of the recorded views over ranks."""
        all_reduce(self.sum, op='sum')
        all_reduce(self.count, op='sum')
        unseen = int((self.count == 0).sum())
        if unseen:
            raise RuntimeError(
                f'LabelManagerHook: {unseen} training instances never came '
                "through the random half this epoch; stats_source='online' "
                'needs a random sampler without drop_last (or use '
                "stats_source='audit')")
        return (self.sum / self.count.unsqueeze(1)).float()


def add_views(dataset, num_views: int) -> None:
    """Make the training pipeline give ``num_views`` views of each instance
    (Eq. 9): its transforms after loading (the first ``Load*``) up to
    ``PackInputs`` run ``num_views`` times, independently, on the loaded
    image, in mmpretrain's ``MultiView``. A pipeline that already has a
    ``MultiView``, and ``num_views=1``, are left as they are."""
    from mmpretrain.datasets.transforms import MultiView
    pipeline = getattr(dataset, 'pipeline', None)
    transforms = getattr(pipeline, 'transforms', None)
    if num_views == 1 or transforms is None or any(
            isinstance(t, MultiView) for t in transforms):
        return
    names = [type(t).__name__ for t in transforms]
    if 'PackInputs' not in names:
        raise ValueError(
            'LabelManagerHook: num_views > 1 needs PackInputs at the end of '
            f'train_dataloader.dataset.pipeline; it has {names}')
    pack = names.index('PackInputs')
    start = next(
        (i + 1 for i, n in enumerate(names[:pack]) if n.startswith('Load')), 0)
    views = MultiView(
        transforms=[list(transforms[start:pack])], num_views=num_views)
    transforms[start:pack] = [views]


@torch.no_grad()
def views_confidence(model, data_batch: dict, num_views: int,
                     rows: int) -> Tensor:
    """Eq. 9's confidence of the first ``rows`` instances of a training
    batch: the mean sigmoid output of the model in eval mode over its first
    ``num_views`` views. The batch's ``inputs`` become its first view (the
    one trained on)."""
    views = split_views(data_batch['inputs'])
    data_batch['inputs'] = views[0]
    samples = data_batch['data_samples'][:rows]
    was_training = model.training
    model.eval()
    conf = sum(
        predict(model, dict(inputs=v[:rows], data_samples=samples))[1]
        for v in views[:num_views]) / min(num_views, len(views))
    model.train(was_training)
    return conf
