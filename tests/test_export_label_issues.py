"""tools/analysis_tools/export_label_issues.py: the suspected wrong labels,
the cleaned annotation file, detection figures, bad input."""
import csv
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mmbmix.apis import cleaned_labels, detection_scores, rank_label_issues
from mmbmix.models.utils import LabelManager
from mmbmix.models.utils.label_refinery import (AMBIGUOUS, CLEAN, CONFIRMED,
                                                RELABELED)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'export_label_issues.py')
DIGITS = osp.join(
    ROOT, 'configs', 'balancemix',
    'balancemix_resnet-small_1xb32_mosaic-digits-32px_flip40.py')
STATE_KEY = 'balancemix_label_manager'

# 4 images x 3 classes; (1, 2) and (0, 0) re-labeled, (2, 1) ambiguous,
# (3, 2) confirmed
GIVEN = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]]).bool()
STATE = torch.full((4, 3), CLEAN, dtype=torch.uint8)
STATE[0, 0] = STATE[1, 2] = RELABELED
STATE[2, 1] = AMBIGUOUS
STATE[3, 2] = CONFIRMED
REFINED = GIVEN.clone()
REFINED[0, 0], REFINED[1, 2] = False, True
P_CLEAN = torch.ones(4, 3)
P_CLEAN[0, 0], P_CLEAN[1, 2], P_CLEAN[2, 1], P_CLEAN[3, 2] = .1, .05, .3, .2


def _tool():
    spec = importlib.util.spec_from_file_location('export_label_issues', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rank_and_clean_by_hand():
    issues = rank_label_issues(GIVEN, STATE, REFINED, P_CLEAN.half())
    # exactly the re-labeled and ambiguous labels, smallest p_G first
    assert list(zip(issues['index'], issues['class_idx'])) == [(1, 2), (0, 0),
                                                               (2, 1)]
    assert issues['given'].tolist() == [0, 1, 1]
    assert issues['suggested'].tolist() == [1, 0, -1]
    assert issues['state'].tolist() == ['relabeled', 'relabeled', 'ambiguous']
    assert np.allclose(issues['p_clean'], [.05, .1, .3], atol=1e-3)
    # without p_G: by the confidence's distance from the given value
    conf = torch.full((4, 3), .5)
    conf[0, 0], conf[1, 2], conf[2, 1] = .02, .6, .9
    issues = rank_label_issues(GIVEN, STATE, REFINED, confidence=conf)
    assert list(zip(issues['index'], issues['class_idx'])) == [(0, 0), (1, 2),
                                                               (2, 1)]
    cleaned = cleaned_labels(GIVEN, STATE, REFINED)
    assert cleaned.long().tolist() == [[0, 0, 0], [0, 1, 1], [1, 1, 0],
                                       [0, 0, 1]]
    dropped = cleaned_labels(GIVEN, STATE, REFINED, drop_ambiguous=True)
    assert dropped[2].long().tolist() == [1, 0, 0]


def test_detection_scores_by_hand():
    clean = GIVEN.clone()
    clean[0, 0] = False  # wrong: (0, 0), (3, 2)
    clean[3, 2] = False
    flagged = (STATE == RELABELED) | (STATE == AMBIGUOUS)
    d = detection_scores(flagged, GIVEN, clean)
    assert (d['flagged'], d['wrong'], d['detected']) == (3, 2, 1)
    assert d['precision'] == pytest.approx(1 / 3)
    assert d['recall'] == pytest.approx(1 / 2)
    none = detection_scores(torch.zeros_like(GIVEN), GIVEN, GIVEN)
    assert none['precision'] is None and none['recall'] is None  # not NaN


def _dataset(tmp_path, coco=False):
    """4 images on disk, their labels GIVEN, a config naming them."""
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    names = [f'im{i}.png' for i in range(4)]
    for name in names:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img_dir / name)
    classes = ['cat', 'dog', 'bird']
    if coco:
        ann = tmp_path / 'instances_train.json'
        pos = GIVEN.nonzero().tolist()
        json.dump(
            dict(
                images=[
                    dict(id=10 + i, file_name=n) for i, n in enumerate(names)
                ],
                categories=[
                    dict(id=k + 1, name=c) for k, c in enumerate(classes)
                ],
                annotations=[
                    dict(
                        id=j + 1,
                        image_id=10 + i,
                        category_id=k + 1,
                        bbox=[0, 0, 4, 4],
                        area=16,
                        iscrowd=0) for j, (i, k) in enumerate(pos)
                ]), open(ann, 'w'))
        ds = dict(
            type='COCOMultiLabel',
            ann_file=str(ann),
            data_prefix=dict(img_path=str(img_dir)),
            pipeline=[])
    else:
        ann = tmp_path / 'train.json'
        json.dump(
            dict(
                metainfo=dict(classes=classes),
                data_list=[
                    dict(img_path=n, gt_label=np.flatnonzero(g).tolist())
                    for n, g in zip(names, GIVEN.numpy())
                ]), open(ann, 'w'))
        ds = dict(
            type='MultiLabelDataset',
            ann_file=str(ann),
            data_prefix=dict(img_path=str(img_dir)),
            pipeline=[])
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "custom_imports = dict(imports=['mmbmix'], "
        "allow_failed_imports=False)\ndefault_scope = 'mmpretrain'\n"
        f'train_dataloader = dict(dataset={ds!r})\n')
    return str(cfg), str(img_dir)


def _checkpoint(tmp_path, given=GIVEN, name='epoch_6.pth'):
    manager = LabelManager()
    manager.reset(given)
    path = tmp_path / name
    torch.save(
        {
            STATE_KEY:
            dict(
                label_state=STATE,
                refined_labels=REFINED,
                p_clean=P_CLEAN.half(),
                sampling_probs=None,
                label_digest=manager.label_digest())
        }, path)
    return str(path)


@pytest.mark.parametrize('coco', [False, True])
def test_cli_lists_the_issues_and_the_cleaned_file_loads_back(
        tmp_path, coco, capsys):
    from mmpretrain.registry import DATASETS
    cfg, img_dir = _dataset(tmp_path, coco)
    ckpt = _checkpoint(tmp_path)
    log_dir = tmp_path / '20261201_000000'
    log_dir.mkdir()
    (log_dir / '20261201_000000.log').write_text(
        'x - Epoch(label) [5] few_shot_share: 0.1  clean_frac: 0.9000  '
        'relabel_frac: 0.0500  confirmed_frac: 0.0100  ambiguous_frac: '
        '0.0400\nx - Epoch(label) [6] clean_frac: 0.8000  relabel_frac: '
        '0.1000  confirmed_frac: 0.0500  ambiguous_frac: 0.0500\n')
    resumed = tmp_path / '20261202_000000'  # a resume: epochs 7-8 only
    resumed.mkdir()
    (resumed / '20261202_000000.log').write_text(
        'x - Epoch(label) [7] clean_frac: 0.7000  relabel_frac: 0.2000\n'
        'x - Epoch(label) [8] clean_frac: 0.6000  relabel_frac: 0.3000\n')
    os.utime(log_dir / '20261201_000000.log', (1, 1))  # the older run
    out = tmp_path / 'out'
    summary = _tool().main([cfg, ckpt, '--out', str(out), '--no-confidence'])
    # the plot's history spans the run and its resumption
    history = _tool().states_over_epochs(summary['log'])
    assert sorted(history) == [5, 6, 7, 8]
    assert history[6]['clean'] == 0.8 and history[8]['relabel'] == 0.3
    with open(out / 'label_issues.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(r['index'], r['class_name'], r['given'], r['suggested'],
             r['state'])
            for r in rows] == [('1', 'bird', '0', '1', 'relabeled'),
                               ('0', 'cat', '1', '0', 'relabeled'),
                               ('2', 'dog', '1', '-1', 'ambiguous')]
    assert rows[0]['img_path'].endswith('im1.png')
    assert json.load(open(out / 'label_issues.json'))[2]['p_clean'] == \
        pytest.approx(.3, abs=1e-3)
    assert summary['suspected'] == 3 and 'detection' not in summary
    assert (out / 'label_issues.png').stat().st_size > 0
    per_class = list(csv.DictReader(open(out / 'per_class.csv')))
    assert [(r['relabeled'], r['ambiguous'])
            for r in per_class] == [('1', '0'), ('0', '1'), ('1', '0')]
    # the cleaned file, through the dataset class the config names
    ds_type = 'COCOMultiLabel' if coco else 'MultiLabelDataset'
    back = DATASETS.build(
        dict(
            type=ds_type,
            ann_file=summary['cleaned_annotation'],
            data_prefix=dict(img_path=img_dir),
            pipeline=[]))
    expected = [[], [1, 2], [0, 1], [2]]
    # COCOMultiLabel, like the COCO multi-label protocol, skips images
    # without a positive label: image 0 lost its only one
    expected = expected[1:] if coco else expected
    assert [sorted(back.get_cat_ids(i)) for i in range(len(back))] == \
        expected
    assert back.get_data_info(len(back) - 3)['img_path'] == osp.join(
        img_dir, 'im1.png')
    assert summary['images_without_labels'] == 1
    if coco:  # the kept labels keep their boxes
        anns = json.load(open(summary['cleaned_annotation']))['annotations']
        boxes = {(a['image_id'], a['category_id']): a['bbox'] for a in anns}
        assert boxes[(12, 1)] == [0, 0, 4, 4] and boxes[(11, 3)] == []
    # an existing output folder is not written without --force
    with pytest.raises(SystemExit, match='exists; pass --force'):
        _tool().main([cfg, ckpt, '--out', str(out), '--no-confidence'])
    summary = _tool().main([
        cfg, ckpt, '--out',
        str(out), '--no-confidence', '--force', '--drop-ambiguous'
    ])
    back = DATASETS.build(
        dict(
            type=ds_type,
            ann_file=summary['cleaned_annotation'],
            data_prefix=dict(img_path=img_dir),
            pipeline=[]))
    assert sorted(back.get_cat_ids(len(back) - 2)) == [0]


def test_bad_input(tmp_path):
    cfg, _ = _dataset(tmp_path)
    tool = _tool()
    no_state = tmp_path / 'bce.pth'
    torch.save({'state_dict': {}}, no_state)
    with pytest.raises(SystemExit, match='has no label state.*--refit'):
        tool.main([
            cfg,
            str(no_state), '--out',
            str(tmp_path / 'a'), '--no-confidence'
        ])
    other = GIVEN.clone()
    other[0, 1] = True  # another dataset's labels
    ckpt = _checkpoint(tmp_path, given=other, name='other.pth')
    with pytest.raises(SystemExit, match='other.pth'):
        tool.main([cfg, ckpt, '--out', str(tmp_path / 'b'), '--no-confidence'])
    with pytest.raises(SystemExit, match='no checkpoint file'):
        tool.main([
            cfg,
            str(tmp_path / 'missing.pth'), '--out',
            str(tmp_path / 'c'), '--no-confidence'
        ])
    assert not (tmp_path / 'a').exists() and not (tmp_path / 'b').exists()


def test_known_clean_labels_give_detection_figures(tmp_path, monkeypatch):
    """On the noise wrapper the wrong labels are known: a state that is
    ambiguous exactly on them is detected with precision = recall = 1."""
    monkeypatch.chdir(ROOT)  # the config's data_root is relative
    from mmengine.config import Config

    from mmbmix.apis import build_train_set, load_labels
    given, clean, _ = load_labels(build_train_set(Config.fromfile(DIGITS)))
    state = torch.where(given == clean, CLEAN, AMBIGUOUS).to(torch.uint8)
    manager = LabelManager()
    manager.reset(given)
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save(
        {
            STATE_KEY:
            dict(
                label_state=state,
                refined_labels=given,
                label_digest=manager.label_digest())
        }, ckpt)
    summary = _tool().main(
        [DIGITS,
         str(ckpt), '--out',
         str(tmp_path / 'o'), '--no-confidence'])
    wrong = int((given != clean).sum())
    assert summary['detection'] == dict(
        flagged=wrong, wrong=wrong, detected=wrong, precision=1.0, recall=1.0)
    rows = json.load(open(tmp_path / 'o' / 'label_issues.json'))
    assert len(rows) == wrong
    assert all(
        bool(given[r['index'], r['class_idx']]) != bool(clean[r['index'],
                                                              r['class_idx']])
        for r in rows)


def test_refit_from_a_plain_checkpoint(tmp_path, monkeypatch):
    """--refit: any multi-label checkpoint (here an untrained BCE model of
    the same architecture) gives a label state, its issues and the cleaned
    file; the checkpoint needs no label state."""
    monkeypatch.chdir(ROOT)
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(DIGITS)
    torch.manual_seed(0)
    model_cfg = cfg.model.copy()
    model_cfg['data_preprocessor'] = cfg.data_preprocessor
    model = MODELS.build(model_cfg)
    ckpt = tmp_path / 'bce.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = tmp_path / 'refit'
    summary = _tool().main([
        DIGITS,
        str(ckpt), '--refit', '--out',
        str(out), '--batch-size', '500'
    ])
    rows = json.load(open(out / 'label_issues.json'))
    assert summary['refit'] and len(rows) == summary['suspected']
    assert summary['suspected'] == summary['relabeled'] + summary['ambiguous']
    assert all(r['confidence'] is not None for r in rows)
    assert summary['detection']['flagged'] == summary['suspected']
    assert osp.isfile(summary['cleaned_annotation'])


def test_plot_has_whole_epoch_ticks_and_the_legend_outside(
        tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure
    figs = []
    save = Figure.savefig
    monkeypatch.setattr(
        Figure, 'savefig', lambda self, *a, **k:
        (figs.append(self), save(self, *a, **k)))
    rows = [
        dict(class_name=c, relabeled=1, ambiguous=2) for c in ('cat', 'dog')
    ]
    history = {
        e: dict(clean=0.9 - e / 100, relabel=e / 100)
        for e in (3, 4, 5, 6, 7)
    }  # a resumed run: epochs 3-7
    assert _tool().plot(rows, history, str(tmp_path / 'p.png'))
    ax = figs[0].axes[1]
    assert list(ax.get_xticks()) == [3, 4, 5, 6, 7]
    anchor = ax.get_legend().get_bbox_to_anchor()
    axes_box = ax.get_window_extent()
    assert anchor.x0 >= axes_box.x1  # right of the curves, hiding none
