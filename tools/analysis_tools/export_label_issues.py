"""Export the labels a BalanceMix run finds wrong, and a cleaned annotation
file (BalanceMix, Song et al., AAAI 2024, Eq. 8-10).

From a BalanceMix checkpoint (its saved label state), or from any
multi-label checkpoint with ``--refit`` (the config's label-manager rule
applied to that model's predictions of the training set), writes to
``--out``:

- ``label_issues.csv`` / ``.json``: every re-labeled or ambiguous label,
  ranked by ``p_G`` (Eq. 8), smallest first: rank, index, image, class,
  given value, suggested value (-1: ambiguous), state, p_G, confidence;
- the cleaned annotation file, in the dataset's own format: a COCO
  instances JSON for ``COCOMultiLabel``, otherwise an mmpretrain
  ``MultiLabelDataset`` JSON (``metainfo.classes``, ``data_list`` of
  ``img_path`` and ``gt_label``): Eq. 9's re-labels applied and, with
  ``--drop-ambiguous``, ambiguous given positives removed;
- ``per_class.csv`` and ``label_issues.png``: suspected labels per class
  and, where the training logs are found (every ``*/*.log`` beside the
  checkpoint: a run and its resumptions), the label states over the epochs;
- ``summary.json``; where the clean labels are known (``LabelNoiseDataset``)
  it holds the precision and recall of the suspected labels as a detector
  of the wrong ones.

Usage:
    python tools/analysis_tools/export_label_issues.py CONFIG CHECKPOINT \
        [--out DIR] [--refit] [--drop-ambiguous] [--force]
"""
import argparse
import csv
import glob
import json
import os
import os.path as osp
import re
import sys

import numpy as np
import torch
from mmengine.config import Config

import mmbmix  # noqa: F401  (registers the datasets)
from mmbmix.apis import (LabelStateError, build_train_set, cleaned_labels,
                         detection_scores, load_label_state, load_labels,
                         predict_train_set, rank_label_issues,
                         refit_label_state, saved_per_batch)
from mmbmix.models.utils import LabelManager
from mmbmix.models.utils.label_refinery import AMBIGUOUS, RELABELED

TOOL = 'export_label_issues'
STATES = ('clean', 'relabel', 'confirmed', 'ambiguous')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        'config', help='the config the checkpoint was trained '
        'with')
    p.add_argument('checkpoint', help='a checkpoint of that training')
    p.add_argument(
        '--out',
        help='output folder (must not exist unless '
        '--force). Defaults to work_dirs/label_issues/<config>')
    p.add_argument(
        '--refit',
        action='store_true',
        help='make the label state from the checkpoint\'s model '
        'instead of reading it from the checkpoint')
    p.add_argument(
        '--drop-ambiguous',
        action='store_true',
        help='remove ambiguous given positives from the cleaned '
        'file')
    p.add_argument(
        '--no-confidence',
        action='store_true',
        help='skip the prediction pass (no confidence column)')
    p.add_argument(
        '--log',
        help='the training log for the states over '
        'epochs. Defaults to every */*.log beside the checkpoint (a run '
        'and its resumptions, oldest first)')
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument(
        '--force',
        action='store_true',
        help='write into an existing output folder')
    return p.parse_args(argv)


def label_state_of(args, cfg, given):
    """``(label_state, refined, p_clean, confidence)`` of the run."""
    confidence = None
    if not args.refit and saved_per_batch(args.checkpoint):
        print(f'{args.checkpoint}: saved by the per-batch label manager (no '
              'per-label state): the label state is made from its model, '
              'as with --refit')
        args.refit = True
    if args.refit or not args.no_confidence:
        confidence = predict_train_set(cfg, args.checkpoint, args.batch_size)
    if args.refit:
        s = refit_label_state(cfg, given, confidence, args.checkpoint)
        return s.label_state, s.refined_labels, s.p_clean, confidence
    saved = load_label_state(args.checkpoint)
    manager = LabelManager()
    manager.reset(given)
    try:  # the checkpoint's labels must be this dataset's labels
        manager.labels_changed(saved['label_digest'], args.checkpoint)
    except ValueError as err:
        raise LabelStateError(str(err).splitlines()[0]) from None
    if tuple(saved['label_state'].shape) != tuple(given.shape):
        raise LabelStateError(
            f'{args.checkpoint}: field label_state has shape '
            f'{tuple(saved["label_state"].shape)}, the training set of '
            f'{args.config} has {tuple(given.shape)} labels')
    return (saved['label_state'], saved['refined_labels'].bool(),
            saved['p_clean'], confidence)


def innermost(dataset):
    while hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    return dataset


def write_cleaned(dataset, labels: torch.Tensor, out: str) -> str:
    """The cleaned annotation file in the dataset's format; its path."""
    inner = innermost(dataset)
    rows = [np.flatnonzero(r).tolist() for r in labels.numpy()]
    if type(inner).__name__ == 'COCOMultiLabel':
        return _write_coco(inner, rows, out)
    prefix = (inner.data_prefix or {}).get('img_path', '') or ''
    data_list = []
    for i, pos in enumerate(rows):
        path = inner.get_data_info(i)['img_path']
        if prefix and path.startswith(osp.join(prefix, '')):
            path = osp.relpath(path, prefix)
        data_list.append(dict(img_path=path, gt_label=pos))
    name = osp.join(
        out, 'cleaned_' +
        osp.basename(getattr(inner, 'ann_file', '') or 'annotations.json'))
    with open(name, 'w') as f:
        json.dump(
            dict(
                metainfo=dict(classes=list(inner.metainfo['classes'])),
                data_list=data_list), f)
    return name


def _write_coco(inner, rows, out: str) -> str:
    """COCO instances JSON: the original annotations of the kept labels
    plus one box-less annotation per added label."""
    with open(inner.ann_file) as f:
        coco = json.load(f)
    cat_ids = [
        c['id'] for c in sorted(coco['categories'], key=lambda c: c['id'])
    ]
    img_ids = [im['id'] for im in coco['images']]
    wanted = {(img_ids[i], cat_ids[k])
              for i, pos in enumerate(rows)
              for k in pos}
    kept = [
        a for a in coco['annotations']
        if (a['image_id'], a['category_id']) in wanted
    ]
    have = {(a['image_id'], a['category_id']) for a in kept}
    next_id = max([a.get('id', 0) for a in coco['annotations']] + [0]) + 1
    for img, cat in sorted(wanted - have):
        kept.append(
            dict(
                id=next_id,
                image_id=img,
                category_id=cat,
                bbox=[],
                area=0,
                iscrowd=0,
                mmbmix_relabeled=True))
        next_id += 1
    coco['annotations'] = kept
    name = osp.join(out, 'cleaned_' + osp.basename(inner.ann_file))
    with open(name, 'w') as f:
        json.dump(coco, f)
    return name


def write_issues(issues: dict, dataset, classes, out: str) -> None:
    inner = innermost(dataset)
    records = []
    for r in range(len(issues['index'])):
        i, k = int(issues['index'][r]), int(issues['class_idx'][r])
        records.append(
            dict(
                rank=r + 1,
                index=i,
                img_path=inner.get_data_info(i)['img_path'],
                class_idx=k,
                class_name=classes[k] if classes else str(k),
                given=int(issues['given'][r]),
                suggested=int(issues['suggested'][r]),
                state=str(issues['state'][r]),
                p_clean=_num(issues['p_clean'][r]),
                confidence=_num(issues['confidence'][r])))
    with open(osp.join(out, 'label_issues.json'), 'w') as f:
        json.dump(records, f, indent=1)
    fields = [
        'rank', 'index', 'img_path', 'class_idx', 'class_name', 'given',
        'suggested', 'state', 'p_clean', 'confidence'
    ]
    with open(osp.join(out, 'label_issues.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(records)


def _num(v):
    v = float(v)
    return None if v != v else round(v, 6)


def per_class(given, label_state, classes, out: str) -> list:
    rows = []
    for k in range(given.size(1)):
        s = label_state[:, k]
        rows.append(
            dict(
                class_name=classes[k] if classes else str(k),
                given_positive=int(given[:, k].sum()),
                relabeled=int((s == RELABELED).sum()),
                ambiguous=int((s == AMBIGUOUS).sum()),
                relabeled_to_negative=int(
                    ((s == RELABELED) & given[:, k]).sum()),
                relabeled_to_positive=int(((s == RELABELED)
                                           & ~given[:, k]).sum())))
    with open(osp.join(out, 'per_class.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def states_over_epochs(logs) -> dict:
    """``{epoch: {state: fraction}}`` from the hook's ``Epoch(label)`` log
    lines of one log or of several (a run and its resumptions, oldest
    first: a later log's epoch replaces an earlier one's)."""
    found = {}
    for log in [logs] if isinstance(logs, str) else logs:
        with open(log, errors='replace') as f:
            for line in f:
                m = re.search(r'Epoch\(label\) \[(\d+)\](.*)', line)
                if m:
                    found[int(m.group(1))] = {
                        k: float(v)
                        for k, v in re.findall(r'(\w+)_frac: ([-\d.e]+)',
                                               m.group(2))
                    }
    return found


def plot(rows, history, path: str) -> bool:
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print(f'{TOOL}: matplotlib is not installed; no {path}')
        return False
    panels = 2 if history else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    names = [r['class_name'] for r in rows]
    x = np.arange(len(rows))
    ax = axes[0, 0]
    ax.bar(x, [r['relabeled'] for r in rows], label='re-labeled')
    ax.bar(
        x, [r['ambiguous'] for r in rows],
        bottom=[r['relabeled'] for r in rows],
        label='ambiguous')
    ax.set_xticks(x, names, rotation=60, ha='right', fontsize=7)
    ax.set_ylabel('suspected wrong labels')
    ax.legend(fontsize=7)
    if history:
        epochs = sorted(history)
        ax = axes[0, 1]
        for state in STATES:
            ax.plot(
                epochs, [100 * history[e].get(state, np.nan) for e in epochs],
                marker='o',
                label=state)
        ax.set_xlabel('epoch')
        ax.set_xticks(epochs)  # whole epochs, every one
        ax.set_ylabel('% of labels')
        ax.set_title('label states (Fig. 6)')
        # outside the axes: no point of the last epoch hides behind it
        ax.legend(loc='upper left', bbox_to_anchor=(1.01, 1), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def find_log(args):
    if args.log:
        if not osp.isfile(args.log):
            raise LabelStateError(f'no log file {args.log} (--log)')
        return args.log
    logs = glob.glob(
        osp.join(osp.dirname(osp.abspath(args.checkpoint)), '*', '*.log'))
    return sorted(logs, key=osp.getmtime) or None  # a run and its resumes


def main(argv=None):
    args = parse_args(argv)
    out = args.out or osp.join('work_dirs', 'label_issues',
                               osp.splitext(osp.basename(args.config))[0])
    if osp.exists(out) and not args.force:
        sys.exit(f'{TOOL}: the output folder {out} exists; pass --force to '
                 'write into it')
    try:
        cfg = Config.fromfile(args.config)
        dataset = build_train_set(cfg)
        given, clean, classes = load_labels(dataset)
        label_state, refined, p_clean, confidence = label_state_of(
            args, cfg, given)
        log = None if args.refit else find_log(args)
    except (LabelStateError, FileNotFoundError) as err:
        sys.exit(f'{TOOL}: {err}')
    os.makedirs(out, exist_ok=True)
    issues = rank_label_issues(given, label_state, refined, p_clean,
                               confidence)
    write_issues(issues, dataset, classes, out)
    new_labels = cleaned_labels(given, label_state, refined,
                                args.drop_ambiguous)
    cleaned = write_cleaned(dataset, new_labels, out)
    rows = per_class(given, label_state, classes, out)
    history = states_over_epochs(log) if log else {}
    plotted = plot(rows, history, osp.join(out, 'label_issues.png'))
    summary = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        refit=args.refit,
        labels=given.numel(),
        suspected=len(issues['index']),
        relabeled=int((label_state == RELABELED).sum()),
        ambiguous=int((label_state == AMBIGUOUS).sum()),
        images_without_labels=int((~new_labels.any(1)).sum()),
        cleaned_annotation=cleaned,
        log=log,
        plot=plotted)
    if clean is not None:
        flagged = (label_state == RELABELED) | (label_state == AMBIGUOUS)
        summary['detection'] = detection_scores(flagged, given, clean)
        fixed = cleaned_labels(given, label_state, refined)
        summary['wrong_before'] = int((given != clean).sum())
        summary['wrong_after_relabel'] = int((fixed != clean).sum())
    with open(osp.join(out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    print(f'{TOOL}: {summary["suspected"]} of {summary["labels"]} labels '
          f'suspected ({summary["relabeled"]} re-labeled, '
          f'{summary["ambiguous"]} ambiguous) -> {out}')
    if 'detection' in summary:
        d = summary['detection']
        pct = {
            k: 'n.a.' if d[k] is None else f'{100 * d[k]:.1f}%'
            for k in ('precision', 'recall')
        }
        print(f'{TOOL}: wrong labels {d["wrong"]}, detected {d["detected"]}:'
              f' detection precision {pct["precision"]}, recall '
              f'{pct["recall"]}; wrong after re-labeling '
              f'{summary["wrong_after_relabel"]}')
    print(f'{TOOL}: cleaned annotation file {cleaned}')
    return summary


if __name__ == '__main__':
    main()
