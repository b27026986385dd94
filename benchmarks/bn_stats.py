"""Batch-norm statistics gathered on mixed images: what do they cost?

BalanceMix trains on mixed images (Eq. 5), so the running statistics of the
backbone's batch-norm layers describe mixtures, while the model is
evaluated, and its label confidences (Eq. 6-9) are computed, in eval mode
on unmixed images. For each robustness cell that keeps its last checkpoint
(``benchmarks/robustness.py``: BCE and BalanceMix), this measures, with the
checkpoint's weights:

- ``trained``: the running statistics as training left them;
- ``precise``: statistics recomputed on unmixed training images (the test
  pipeline, every training image once) with mmpretrain's
  ``update_bn_stats`` (``PreciseBNHook``'s step);

and for each: test mAP (all classes), and the label selection the config's
``LabelManager`` makes from the model's training-set confidences (Eq. 6-9,
one view; precision and recall over all labels and over the given
positives, Eq. 12).

Usage (the robustness run's arguments):
    python benchmarks/bn_stats.py --methods balancemix bce \
        --noise mislabel40 --seeds 2 --epochs 12 --num-images 4000 \
        --set layout=scatter imbalance_ratio=10 val_every=3 [--json OUT]
"""
import argparse
import copy
import json
import os.path as osp
import sys

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import robustness as rb  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--methods', nargs='+', default=['balancemix', 'bce'])
    p.add_argument('--noise', nargs='+', default=['mislabel40'])
    p.add_argument('--seeds', nargs='+', type=int, default=[0])
    p.add_argument('--epochs', type=int)
    p.add_argument('--num-images', type=int)
    p.add_argument('--set', nargs='+', default=[])
    p.add_argument('--work-root', default=osp.join('work_dirs', 'robustness'))
    p.add_argument('--batch-size', type=int, default=250)
    p.add_argument('--json', help='also write the rows here')
    return p.parse_args(argv)


def run_args(args):
    """The robustness run's arguments (its cell folders and configs)."""
    return rb.same_run(args)


@torch.no_grad()
def test_map(model, cfg, batch_size) -> float:
    """All-class mAP (%) on the config's test split, in eval mode
    (mmpretrain's ``AveragePrecision``, as the cells' evaluator)."""
    from mmengine.dataset import pseudo_collate
    from mmpretrain.evaluation import AveragePrecision
    from mmpretrain.registry import DATASETS
    from torch.utils.data import DataLoader

    from mmbmix.datasets.utils import get_label_matrix
    from mmbmix.engine.confidence import predict
    dataset = DATASETS.build(copy.deepcopy(cfg.val_dataloader.dataset))
    loader = DataLoader(
        dataset, batch_size=batch_size, collate_fn=pseudo_collate)
    model.eval()
    idx, scores = map(torch.cat,
                      zip(*(predict(model, data) for data in loader)))
    target = get_label_matrix(dataset).long()[idx]
    return float(AveragePrecision.calculate(scores, target))


@torch.no_grad()
def precise_bn(model, cfg, batch_size) -> None:
    """Recompute the batch-norm statistics on unmixed training images (the
    test pipeline, each image once, shuffled batches) with mmpretrain's
    ``update_bn_stats``."""
    from mmengine.dataset import pseudo_collate
    from mmpretrain.engine.hooks.precise_bn_hook import update_bn_stats
    from torch.utils.data import DataLoader

    from mmbmix.apis import build_train_set, test_pipeline_of
    dataset = build_train_set(cfg, test_pipeline_of(cfg))
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        collate_fn=pseudo_collate,
        generator=torch.Generator().manual_seed(0))
    model.train()
    update_bn_stats(model, loader, len(dataset), logger='silent')
    model.eval()


def selection(cfg, given, clean, confidence, ckpt) -> dict:
    """Eq. 12 over all labels and over the given positives of the label
    state the config's rule makes from ``confidence``."""
    from mmbmix.apis import refit_label_state
    from mmbmix.models.utils.label_refinery import (CLEAN, RELABELED,
                                                    label_diagnostics)
    state = refit_label_state(cfg, given, confidence, ckpt)
    s, refined = state.label_state, state.refined_labels.bool()
    out = {}
    for name, mask in (('all', torch.ones_like(given)), ('pos', given)):
        d = label_diagnostics(given[mask], clean[mask], (s == CLEAN)[mask],
                              (s == RELABELED)[mask], refined[mask])
        out[f'precision_{name}'] = 100 * d['precision']
        out[f'recall_{name}'] = 100 * d['recall']
    return out


def cell_rows(args, run, cell) -> list:
    from mmbmix.apis import (build_train_set, load_labels, load_model,
                             predict_train_set)
    spec = rb.cell_spec(run, cell)
    ckpt = osp.join(spec['work_dir'], f'epoch_{spec["epochs"]}.pth')
    if not osp.isfile(ckpt):
        print(f'bn_stats: {cell}: no checkpoint {ckpt}', flush=True)
        return []
    cfg = rb.build_cell_config(spec)
    given, clean, _ = load_labels(build_train_set(cfg), require_clean=True)
    model = load_model(cfg, ckpt)
    rows = []
    for stats in ('trained', 'precise'):
        if stats == 'precise':
            precise_bn(model, cfg, 32)
        row = dict(
            method=cell.method,
            setting=cell.setting,
            seed=cell.seed,
            bn_stats=stats,
            map_all=test_map(model, cfg, args.batch_size))
        if cell.method.startswith('balancemix'):
            conf = predict_train_set(cfg, ckpt, args.batch_size, model=model)
            row.update(selection(cfg, given, clean, conf, ckpt))
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv=None):
    args = parse_args(argv)
    import mmbmix  # noqa: F401
    run = run_args(args)
    rows = []
    for method in args.methods:
        for setting in args.noise:
            for seed in args.seeds:
                rows += cell_rows(args, run, rb.Cell(method, setting, seed))
    keys = ('map_all', 'precision_all', 'recall_all', 'precision_pos',
            'recall_pos')
    print('| cell | BN statistics | ' +
          ' | '.join(k.replace('_', ' ') for k in keys) + ' |')
    print('| --- ' * (len(keys) + 2) + '|')
    for r in rows:
        print(f"| {r['method']} {r['setting']} seed{r['seed']} | "
              f"{r['bn_stats']} | " +
              ' | '.join(f'{r[k]:.1f}' if k in r else '-'
                         for k in keys) + ' |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
