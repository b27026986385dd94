"""mAP over all classes and over many-, medium- and few-shot class groups.

BalanceMix (Appendix D) reports last-epoch mAP over all classes and over
many-shot (> 10,000 positive training labels), medium-shot (1,000-10,000) and
few-shot (< 1,000) classes; on a small dataset the thresholds are settable.
"""
import logging
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.fileio import exists, load
from mmengine.logging import print_log
from mmpretrain.evaluation.metrics import AveragePrecision
from mmpretrain.registry import METRICS

GROUPS = ('many', 'medium', 'few')


def count_positive_labels(ann_file: str) -> Tuple[np.ndarray, List[str]]:
    """Per-class positive label counts and class names of an annotation file.

    The file is a ``MultiLabelDataset`` JSON, ``{"metainfo": {"classes":
    [...]}, "data_list": [{"gt_label": [...]}, ...]}``; no image is read.
    """
    if not exists(ann_file):
        raise FileNotFoundError(
            f'ShotGroupAveragePrecision: train_ann_file {ann_file!r} '
            'does not exist')
    ann = load(ann_file)
    try:
        classes = ann['metainfo']['classes']
        data_list = ann['data_list']
    except (KeyError, TypeError):
        raise ValueError(
            f'ShotGroupAveragePrecision: {ann_file!r} needs the fields '
            '"metainfo.classes" and "data_list"') from None
    labels = [
        np.asarray(d['gt_label'], dtype=np.int64).reshape(-1)
        for d in data_list
    ]
    labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    bad = labels[(labels < 0) | (labels >= len(classes))]
    if bad.size:
        raise ValueError(
            f'ShotGroupAveragePrecision: {ann_file!r} field "gt_label" has '
            f'index {bad[0]} outside [0, {len(classes)})')
    return np.bincount(labels, minlength=len(classes)), list(classes)


def shot_groups(class_counts, many_thr: float, few_thr: float) -> dict:
    """Boolean class masks of the many-, medium- and few-shot groups.

    many: count > ``many_thr``; few: count < ``few_thr``; medium: the rest
    (``few_thr <= count <= many_thr``). The groups partition the classes.
    """
    counts = np.asarray(class_counts)
    many = counts > many_thr
    few = counts < few_thr
    return dict(many=many, medium=~(many | few), few=few)


def tercile_thresholds(class_counts) -> tuple:
    """``(many_thr, few_thr)``: the second and first terciles of the
    per-class counts, so that :func:`shot_groups` puts the classes above
    the second tercile in many-shot and those below the first in few-shot
    (3 / 4 / 3 of 10 distinct counts) whatever the imbalance."""
    counts = np.asarray(class_counts, dtype=np.float64)
    return tuple(float(np.quantile(counts, q)) for q in (2 / 3, 1 / 3))


@METRICS.register_module()
class ShotGroupAveragePrecision(AveragePrecision):
    """mAP over all classes and over many/medium/few-shot class groups.

    Per-class AP is mmpretrain's :meth:`AveragePrecision.calculate`, in
    percent. Keys: ``mAP``, ``mAP_many``, ``mAP_medium``, ``mAP_few`` (NaN for
    an empty group, with a warning naming it) and, with ``per_class``,
    ``AP/<class name>``. A class is many-shot with more than ``many_thr``
    positive *training* labels, few-shot with fewer than ``few_thr``, and
    medium-shot otherwise.

    Args:
        shot_thresholds (tuple[float, float]): ``(many_thr, few_thr)``.
            Defaults to ``(10000, 1000)`` as in the paper.
        class_counts (Sequence[int], optional): per-class positive training
            label counts.
        train_ann_file (str, optional): a ``MultiLabelDataset`` JSON to count
            them from, if ``class_counts`` is not given. With neither, only
            ``mAP`` (and per-class AP) is reported.
        per_class (bool): also report the AP of every class. Defaults to
            False.
        difficult_as_positive (bool, optional): VOC protocol, as
            mmpretrain's ``VOCAveragePrecision``, for samples with a
            ``gt_label_difficult`` field: a class that is only difficult in
            an image (not also in its ``gt_label``) is ignored in that class's
            AP (None, the default), a positive (True) or a negative (False).
            Samples without the field are unaffected.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): metric name prefix. Defaults to
            ``'multi-label'``.
    """
    default_prefix: Optional[str] = 'multi-label'

    def __init__(self,
                 shot_thresholds: Sequence[float] = (10000, 1000),
                 class_counts: Optional[Sequence[int]] = None,
                 train_ann_file: Optional[str] = None,
                 per_class: bool = False,
                 difficult_as_positive: Optional[bool] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(
            average=None, collect_device=collect_device, prefix=prefix)
        if len(shot_thresholds) != 2 or \
                shot_thresholds[0] < shot_thresholds[1]:
            raise ValueError(
                'ShotGroupAveragePrecision: shot_thresholds must be '
                f'(many_thr, few_thr) with many_thr >= few_thr, got '
                f'{shot_thresholds!r}')
        if class_counts is not None and train_ann_file is not None:
            raise ValueError('ShotGroupAveragePrecision: give class_counts '
                             'or train_ann_file, not both')
        self.many_thr, self.few_thr = shot_thresholds
        self.per_class = per_class
        self.difficult_as_positive = difficult_as_positive
        self.class_names: Optional[List[str]] = None
        if train_ann_file is not None:
            class_counts, self.class_names = count_positive_labels(
                train_ann_file)
        self.class_counts = None
        if class_counts is not None:
            self.class_counts = np.asarray(class_counts).reshape(-1)
            if (self.class_counts < 0).any():
                raise ValueError('ShotGroupAveragePrecision: class_counts '
                                 f'must be >= 0, got {self.class_counts}')
        else:
            print_log(
                'ShotGroupAveragePrecision: neither class_counts nor '
                'train_ann_file given; reporting mAP only',
                logger='current',
                level=logging.WARNING)
        self._warned = set()

    def _warn_once(self, key: str, msg: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            print_log(msg, logger='current', level=logging.WARNING)

    def _names(self, num_classes: int) -> List[str]:
        names = self.class_names
        if names is None and self.dataset_meta:
            names = self.dataset_meta.get('classes')
        if names is None or len(names) != num_classes:
            names = [str(k) for k in range(num_classes)]
        return list(names)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """As :class:`AveragePrecision`, then VOC's difficult labels."""
        super().process(data_batch, data_samples)
        if self.difficult_as_positive is False or not data_samples:
            return
        for sample, result in zip(data_samples,
                                  self.results[-len(data_samples):]):
            if 'gt_label_difficult' not in sample:
                continue
            target = result['gt_score']
            difficult = torch.zeros_like(target, dtype=torch.bool)
            difficult[torch.as_tensor(
                sample['gt_label_difficult'],
                dtype=torch.long).reshape(-1)] = True
            # -1 targets are dropped by mmpretrain's ``_average_precision``
            target[difficult & (target != 1)] = \
                1 if self.difficult_as_positive else -1

    def compute_metrics(self, results: List) -> dict:
        """mAP overall, per shot group and, optionally, per class."""
        target = torch.stack([res['gt_score'] for res in results])
        pred = torch.stack([res['pred_score'] for res in results])
        ap = self.calculate(pred.double(), target, average=None)
        metrics = {'mAP': ap.mean().item()}
        if self.class_counts is not None:
            if len(self.class_counts) != ap.numel():
                raise ValueError(
                    'ShotGroupAveragePrecision: class_counts has '
                    f'{len(self.class_counts)} classes but the predictions '
                    f'have {ap.numel()}')
            groups = shot_groups(self.class_counts, self.many_thr,
                                 self.few_thr)
            for name in GROUPS:
                mask = torch.from_numpy(groups[name])
                if mask.any():
                    metrics[f'mAP_{name}'] = ap[mask].mean().item()
                else:
                    metrics[f'mAP_{name}'] = float('nan')
                    self._warn_once(
                        name, f'ShotGroupAveragePrecision: the {name}-shot '
                        f'group is empty (thresholds many > {self.many_thr}'
                        f', few < {self.few_thr}); mAP_{name} is NaN')
        if self.per_class:
            for name, value in zip(self._names(ap.numel()), ap.tolist()):
                metrics[f'AP/{name}'] = value
        return metrics
