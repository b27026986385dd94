"""Tests of ``ShotGroupAveragePrecision``."""
import json
import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.model import BaseModel
from mmengine.runner import Runner
from sklearn.metrics import average_precision_score

import mmbmix  # noqa: F401  (registers the components)
from mmbmix.evaluation import ShotGroupAveragePrecision
from mmbmix.evaluation.metrics import shot_group_map
from mmbmix.evaluation.metrics.shot_group_map import shot_groups

K = 12
# thresholds (100, 10): many > 100, medium 10..100, few < 10; boundaries
# 100 and 10 are medium.
COUNTS = [5000, 101, 100, 50, 10, 9, 0, 3, 700, 20, 11, 200]
GROUPS = dict(many=[0, 1, 8, 11], medium=[2, 3, 4, 9, 10], few=[5, 6, 7])


def random_scores(n=500, k=K, seed=0):
    rng = np.random.default_rng(seed)
    target = rng.random((n, k)) < rng.uniform(0.05, 0.5, k)
    target[rng.integers(0, n, k), np.arange(k)] = True  # every class has one
    pred = rng.random((n, k)) + 0.4 * target
    return pred, target


def evaluate(metric, pred, target, as_indices=True):
    samples = []
    for p, t in zip(pred, target):
        sample = dict(pred_score=torch.as_tensor(p, dtype=torch.float32))
        if as_indices:
            sample['gt_label'] = torch.from_numpy(np.flatnonzero(t))
        else:
            sample['gt_score'] = torch.as_tensor(t, dtype=torch.float32)
        samples.append(sample)
    evaluator = Evaluator(metric)
    evaluator.dataset_meta = dict(classes=[f'cls{k}' for k in range(K)])
    for i in range(0, len(samples), 64):
        evaluator.process(samples[i:i + 64])
    return evaluator.evaluate(len(samples))


def sk_map(pred, target, cols=slice(None)):
    """sklearn macro AP in percent. mmpretrain's AP sums float32 precisions,
    so it agrees with sklearn to about 1e-6 relative, not 1e-6 absolute."""
    pred = np.asarray(pred, dtype=np.float32)  # what the metric receives
    return 100 * average_precision_score(
        target[:, cols], pred[:, cols], average='macro')


def test_groups_partition_classes():
    groups = shot_groups(COUNTS, 100, 10)
    stacked = np.stack([groups[g] for g in ('many', 'medium', 'few')])
    assert (stacked.sum(0) == 1).all()
    for name, cols in GROUPS.items():
        assert np.flatnonzero(groups[name]).tolist() == cols


@pytest.mark.parametrize('as_indices', [True, False])
def test_map_and_groups_match_sklearn(as_indices):
    pred, target = random_scores()
    metric = ShotGroupAveragePrecision(
        shot_thresholds=(100, 10), class_counts=COUNTS)
    res = evaluate(metric, pred, target, as_indices)
    assert set(res) == {
        f'multi-label/mAP{s}'
        for s in ('', '_many', '_medium', '_few')
    }
    assert res['multi-label/mAP'] == pytest.approx(
        sk_map(pred, target), rel=1e-6)
    for name, cols in GROUPS.items():
        assert res[f'multi-label/mAP_{name}'] == pytest.approx(
            sk_map(pred, target, cols), rel=1e-6)
    # the groups are not all alike: the metric is not a constant
    assert len({round(v, 3) for v in res.values()}) == 4


def test_counts_from_train_ann_file(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.random((400, K)) < np.linspace(0.01, 0.6, K)
    data_list = [
        dict(img_path=f'{i}.png', gt_label=np.flatnonzero(r).tolist())
        for i, r in enumerate(labels)
    ]
    classes = [f'name{k}' for k in range(K)]
    ann = tmp_path / 'train.json'
    ann.write_text(
        json.dumps(dict(metainfo=dict(classes=classes), data_list=data_list)))
    metric = ShotGroupAveragePrecision(
        shot_thresholds=(150, 40), train_ann_file=str(ann), per_class=True)
    np.testing.assert_array_equal(metric.class_counts, labels.sum(0))
    pred, target = random_scores(seed=2)
    res = evaluate(metric, pred, target)
    groups = shot_groups(labels.sum(0), 150, 40)
    for name in ('many', 'medium', 'few'):
        assert groups[name].any()
        assert res[f'multi-label/mAP_{name}'] == pytest.approx(
            sk_map(pred, target, groups[name]), rel=1e-6)
    # per-class AP, named after the training classes
    for k in range(K):
        assert res[f'multi-label/AP/name{k}'] == pytest.approx(
            100 * average_precision_score(target[:, k], pred[:, k].astype(
                np.float32)),
            rel=1e-6)


def test_empty_group_is_nan_with_warning(monkeypatch):
    logs = []
    monkeypatch.setattr(shot_group_map, 'print_log',
                        lambda msg, **kw: logs.append(msg))
    pred, target = random_scores()
    metric = ShotGroupAveragePrecision(
        shot_thresholds=(10000, 1000), class_counts=COUNTS)
    res = evaluate(metric, pred, target)
    assert math.isnan(res['multi-label/mAP_many'])
    assert res['multi-label/mAP_few'] == pytest.approx(
        sk_map(pred, target, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), rel=1e-6)
    assert sum('many-shot group is empty' in m for m in logs) == 1
    evaluate(metric, pred, target)  # warned once only
    assert sum('many-shot group is empty' in m for m in logs) == 1


def test_without_counts_reports_map_only(monkeypatch):
    logs = []
    monkeypatch.setattr(shot_group_map, 'print_log',
                        lambda msg, **kw: logs.append(msg))
    metric = ShotGroupAveragePrecision(per_class=True)
    assert any('mAP only' in m for m in logs)
    pred, target = random_scores()
    res = evaluate(metric, pred, target)
    assert 'multi-label/mAP_many' not in res
    assert res['multi-label/mAP'] == pytest.approx(
        sk_map(pred, target), rel=1e-6)
    assert res['multi-label/AP/cls3'] == pytest.approx(
        100 *
        average_precision_score(target[:, 3], pred[:, 3].astype(np.float32)),
        rel=1e-6)


def test_bad_arguments(tmp_path):
    metric = ShotGroupAveragePrecision(class_counts=[1, 2, 3])
    pred, target = random_scores()
    with pytest.raises(ValueError, match='class_counts has 3 classes.*12'):
        evaluate(metric, pred, target)
    with pytest.raises(ValueError, match='shot_thresholds'):
        ShotGroupAveragePrecision(shot_thresholds=(10, 100))
    with pytest.raises(FileNotFoundError, match='missing.json'):
        ShotGroupAveragePrecision(
            train_ann_file=str(tmp_path / 'missing.json'))
    bad = tmp_path / 'bad.json'
    bad.write_text(
        json.dumps(
            dict(
                metainfo=dict(classes=['a', 'b']),
                data_list=[dict(gt_label=[0, 5])])))
    with pytest.raises(ValueError, match='gt_label.*5'):
        ShotGroupAveragePrecision(train_ann_file=str(bad))


class _FixedScores(BaseModel):
    """Returns stored scores as predictions (for a validation run)."""

    def __init__(self, pred):
        super().__init__()
        self.pred = torch.as_tensor(pred, dtype=torch.float32)
        self.dummy = torch.nn.Linear(1, 1)

    def forward(self, inputs, data_samples=None, mode='predict'):
        idx = torch.stack(inputs)
        return [
            dict(pred_score=self.pred[i], gt_label=s)
            for i, s in zip(idx, data_samples)
        ]


class _Data(torch.utils.data.Dataset):
    metainfo = dict(classes=[f'cls{k}' for k in range(K)])

    def __init__(self, target):
        self.target = target

    def __len__(self):
        return len(self.target)

    def __getitem__(self, i):
        return dict(
            inputs=torch.tensor(i),
            data_samples=torch.from_numpy(np.flatnonzero(self.target[i])))


def test_nan_group_survives_runner_logging(tmp_path):
    pred, target = random_scores(n=64)
    runner = Runner(
        model=_FixedScores(pred),
        work_dir=str(tmp_path),
        val_dataloader=dict(
            dataset=_Data(target),
            batch_size=16,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        val_cfg=dict(),
        val_evaluator=dict(
            type='ShotGroupAveragePrecision',
            shot_thresholds=(10000, 1000),
            class_counts=COUNTS),
        default_scope='mmpretrain')
    metrics = runner.val()
    assert math.isnan(metrics['multi-label/mAP_many'])
    assert metrics['multi-label/mAP'] == pytest.approx(
        sk_map(pred, target), rel=1e-6)


# VOC difficult labels. Class 0 over images A..D: A positive (0.9), D negative
# (0.85), B difficult only (0.8), C positive (0.7). Ranked A+ D- B? C+:
# B ignored: A+ D- C+, AP = (1/1 + 2/3) / 2 = 5/6;
# B negative: A+ D- B- C+, AP = (1/1 + 2/4) / 2 = 3/4;
# B positive: A+ D- B+ C+, AP = (1/1 + 2/3 + 3/4) / 3 = 29/36.
# Class 1 (no difficult label): C- (0.9) B+ (0.6) D+ (0.3) A- (0.2), AP =
# (1/2 + 2/3) / 2 = 7/12.
VOC_PRED = [[0.9, 0.2], [0.8, 0.6], [0.7, 0.9], [0.85, 0.3]]
VOC_LABELS = [[0], [1], [0], [1]]


def voc_samples(difficult):
    return [
        dict(
            pred_score=torch.tensor(p),
            gt_label=torch.tensor(t, dtype=torch.long),
            gt_label_difficult=d)
        for p, t, d in zip(VOC_PRED, VOC_LABELS, difficult)
    ]


def run_metric(metric, samples):
    evaluator = Evaluator(metric)
    evaluator.dataset_meta = dict(classes=['cls0', 'cls1'])
    evaluator.process(samples)
    return evaluator.evaluate(len(samples))


@pytest.mark.parametrize('as_positive,ap0', [(None, 5 / 6), (False, 3 / 4),
                                             (True, 29 / 36)])
def test_voc_difficult_only_label(as_positive, ap0):
    from mmpretrain.evaluation import VOCAveragePrecision
    samples = voc_samples([[], [0], [], []])  # B: class 0 only difficult
    kwargs = {} if as_positive is None else dict(
        difficult_as_positive=as_positive)  # None: the default
    res = run_metric(
        ShotGroupAveragePrecision(per_class=True, **kwargs), samples)
    assert res['multi-label/AP/cls0'] == pytest.approx(100 * ap0)
    assert res['multi-label/AP/cls1'] == pytest.approx(100 * 7 / 12)
    mAP = 100 * (ap0 + 7 / 12) / 2
    assert res['multi-label/mAP'] == pytest.approx(mAP)
    voc = run_metric(
        VOCAveragePrecision(difficult_as_positive=as_positive), samples)
    assert voc['multi-label/mAP'] == pytest.approx(mAP, rel=1e-6)


def test_voc_difficult_and_regular_label_stays_positive():
    from mmpretrain.evaluation import VOCAveragePrecision

    # C has a difficult and a regular class-0 object: it stays positive, AP
    # 3/4 as without the difficult label (ignoring C would give A+ D- B-, 1).
    samples = voc_samples([[], [], [0], []])
    res = run_metric(ShotGroupAveragePrecision(per_class=True), samples)
    assert res['multi-label/AP/cls0'] == pytest.approx(100 * 3 / 4)
    assert res['multi-label/AP/cls1'] == pytest.approx(100 * 7 / 12)
    voc = run_metric(VOCAveragePrecision(), samples)
    assert voc['multi-label/mAP'] == pytest.approx(
        res['multi-label/mAP'], rel=1e-6)
    # a tensor field works too
    samples[2]['gt_label_difficult'] = torch.tensor([0])
    assert run_metric(ShotGroupAveragePrecision(per_class=True),
                      samples) == res


def test_tercile_thresholds_give_3_4_3_by_hand():
    from mmbmix.evaluation import tercile_thresholds
    from mmbmix.evaluation.metrics.shot_group_map import shot_groups
    counts = [50, 1, 7, 3, 9, 2, 10, 4, 8, 6]  # 1..10 with one outlier
    many, few = tercile_thresholds(counts)
    assert (many, few) == (8.0, 4.0)  # np.quantile, linear: 7th / 4th
    groups = shot_groups(counts, many, few)
    assert sorted(np.asarray(counts)[groups['many']]) == [9, 10, 50]
    assert sorted(np.asarray(counts)[groups['few']]) == [1, 2, 3]
