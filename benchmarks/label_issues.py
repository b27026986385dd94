"""Wrong-label detection: mmbmix's label states against cleanlab.

For each (noise setting, seed) of the pretrained-regime robustness run
(``benchmarks/robustness.py``; its BCE and BalanceMix cells keep their last
checkpoint), this compares detectors of the wrong given labels (given !=
clean, known from ``LabelNoiseDataset``) on the training set:

- ``mmbmix`` / ``label_state``: the labels BalanceMix's training left
  re-labeled or ambiguous (its checkpoint's label state, Eq. 8-10; from the
  audit pass's two augmented views);
- ``mmbmix`` / ``refit``: the same rule (the config's ``LabelManager``, Eq.
  6-9) applied to the model's test-pipeline predictions, the predictions
  cleanlab gets;
- ``cleanlab`` / ``find_multilabel_issues_per_class``: cleanlab's per-label
  issues (its default ``prune_by_noise_rate``) on those predictions.

Each model's in-sample predictions: the BalanceMix model and the BCE model
of the same cell. Cross-validated predictions (cleanlab's recommended input)
would need K trainings per cell and are not made here.

Writes ``benchmarks/results/label_issues.{json,md}``: records ``{"method",
"noise_type", "noise_rate", "seed", "flagged", "precision", "recall",
"model", "source", "f1"}``.

Another regime's cells: the same ``--epochs``, ``--num-images`` and
``--set`` as the robustness run (the records then go beside its report,
``label_issues_e12_n4000.{json,md}``); ``--balancemix`` names the variant
whose cells to read (e.g. ``balancemix_disagree``). A checkpoint of the
per-batch default keeps no per-label state: its ``label_state`` rows are
left out and ``refit`` stands for it.

Usage:
    python benchmarks/label_issues.py [--noise mislabel40 flip40
        single-positive] [--seeds 0 1 2] [--epochs 12 --num-images 4000
        --set layout=scatter imbalance_ratio=10 val_every=3]
        [--balancemix balancemix_disagree]
"""
import argparse
import datetime
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import robustness as rb  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--noise',
        nargs='+',
        default=['mislabel40', 'flip40', 'single-positive'],
        choices=[s for s in rb.SETTINGS if s != 'clean'])
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--work-root', default=osp.join('work_dirs', 'robustness'))
    p.add_argument('--out-dir', default=osp.join('benchmarks', 'results'))
    p.add_argument('--batch-size', type=int, default=250)
    p.add_argument(
        '--balancemix',
        default='balancemix',
        choices=[m for m in rb.KEEP_CHECKPOINT if m != 'bce'],
        help='the BalanceMix cells to read (default: the paper\'s rule)')
    p.add_argument('--epochs', type=int, help='as the robustness run')
    p.add_argument('--num-images', type=int, help='as the robustness run')
    p.add_argument(
        '--set', nargs='+', default=[], help='as the robustness run')
    return p.parse_args(argv)


def run_args(args):
    """The robustness run's arguments (its cell folders and configs)."""
    return rb.same_run(args)


def cleanlab_flags(given: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """cleanlab's per-label issues as an ``(N, K)`` bool mask (cleanlab
    2.9 returns it as an ``(N, K)`` array)."""
    from cleanlab.multilabel_classification.filter import \
        find_multilabel_issues_per_class
    labels = [np.flatnonzero(row).tolist() for row in given.numpy()]
    masks = find_multilabel_issues_per_class(
        labels=labels, pred_probs=probs.numpy())
    masks = np.asarray(masks)
    if masks.shape != tuple(given.shape):
        raise RuntimeError(f'label_issues: cleanlab returned issues of shape '
                           f'{masks.shape} for labels {tuple(given.shape)}')
    return torch.from_numpy(masks).bool()


def suspected(state) -> torch.Tensor:
    from mmbmix.models.utils.label_refinery import AMBIGUOUS, RELABELED
    return (state == RELABELED) | (state == AMBIGUOUS)


def regime_text(run) -> str:
    """The robustness run's regime in words, for the record's header."""
    levers = ', '.join(f'{k} {v}' for k, v in sorted(run.levers.items()))
    return (f'fashion mosaic 64 px, {levers or "free layout"}, '
            f'{run.num_images} images, {run.epochs} epochs')


def cell_records(args, setting, seed):
    from mmbmix.apis import (build_train_set, detection_scores,
                             load_label_state, load_labels, predict_train_set,
                             refit_label_state, saved_per_batch)
    run = run_args(args)
    noise_type, rate = rb.SETTINGS[setting][:2]
    records = []
    for model in (args.balancemix, 'bce'):
        spec = rb.cell_spec(run, rb.Cell(model, setting, seed))
        ckpt = checkpoint(run, model, setting, seed)
        if not osp.isfile(ckpt):
            print(
                f'label_issues: {model}/{setting}/seed{seed}: no '
                f'checkpoint {ckpt}; run benchmarks/robustness.py first',
                flush=True)
            continue
        cfg = rb.build_cell_config(spec)
        given, clean, _ = load_labels(build_train_set(cfg), require_clean=True)
        probs = predict_train_set(cfg, ckpt, args.batch_size)
        flags = {}
        if model != 'bce' and not saved_per_batch(ckpt):
            flags[('mmbmix', 'label_state')] = suspected(
                load_label_state(ckpt)['label_state'])
        flags[('mmbmix', 'refit')] = suspected(
            refit_label_state(cfg, given, probs, ckpt).label_state)
        flags[('cleanlab', 'find_multilabel_issues_per_class')] = \
            cleanlab_flags(given, probs)
        for (method, source), flagged in flags.items():
            d = detection_scores(flagged, given, clean)
            f1 = 2 * d['precision'] * d['recall'] / (
                d['precision'] + d['recall']) if d['detected'] else 0.0
            records.append(
                dict(
                    method=method,
                    noise_type=noise_type,
                    noise_rate=rate,
                    seed=seed,
                    flagged=d['flagged'],
                    precision=d['precision'],
                    recall=d['recall'],
                    model=model,
                    source=source,
                    f1=f1,
                    wrong=d['wrong']))
            print(
                f'{setting} seed{seed} {model:10s} {method:8s} '
                f'{source:34s} flagged {d["flagged"]:6d} precision '
                f'{100 * d["precision"]:5.1f} recall '
                f'{100 * d["recall"]:5.1f}',
                flush=True)
    return records


def checkpoint(run, model, setting, seed) -> str:
    """The last checkpoint a robustness cell keeps."""
    spec = rb.cell_spec(run, rb.Cell(model, setting, seed))
    return osp.join(spec['work_dir'], f'epoch_{spec["epochs"]}.pth')


def cached_cell_records(args, setting, seed):
    """:func:`cell_records`, kept beside the cell results
    (``cells/.../label_issues/<setting>/seed<k>.json``) and made again only
    when a checkpoint is newer than the kept records."""
    run = run_args(args)
    folder = 'label_issues' + ('' if args.balancemix == 'balancemix' else '_' +
                               args.balancemix)
    path = osp.join(rb.store_dir(run), folder, setting, f'seed{seed}.json')
    ckpts = [
        checkpoint(run, m, setting, seed) for m in (args.balancemix, 'bce')
    ]
    newest = max([osp.getmtime(c) for c in ckpts if osp.isfile(c)], default=0)
    if osp.isfile(path) and osp.getmtime(path) >= newest:
        with open(path) as f:
            return json.load(f)
    records = cell_records(args, setting, seed)
    if records:
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            json.dump(rb._clean_nan(records), f, indent=1)
    return records


def markdown(records, command, regime=None) -> str:
    regime = regime or 'fashion mosaic 64 px free layout, 2000 images, ' \
        '6 epochs'
    lines = [
        '# Wrong-label detection: mmbmix against cleanlab', '',
        'Training set of the pretrained-regime robustness cells '
        f'(EfficientNet-Lite0, {regime}). Precision and recall (%) of '
        'the flagged labels as a detector of the wrong given labels, '
        'mean ± std over seeds; '
        '`label_state`: what BalanceMix training left re-labeled or '
        'ambiguous; `refit`: the same rule on the model\'s test-pipeline '
        'predictions, the predictions cleanlab gets.', '',
        f'- command: `{command}` '
        f'({datetime.datetime.now():%Y-%m-%d %H:%M}, commit {_commit()})', '',
        '| setting | model | detector | seeds | wrong labels | flagged | '
        'precision | recall | F1 |', '| --- | --- | --- | --- | --- | --- | '
        '--- | --- | --- |'
    ]
    keys = []
    for r in records:
        key = (r['noise_type'], r['noise_rate'], r['model'], r['method'],
               r['source'])
        if key not in keys:
            keys.append(key)
    for key in keys:
        rs = [
            r for r in records if (r['noise_type'], r['noise_rate'],
                                   r['model'], r['method'], r['source']) == key
        ]

        def ms(field, scale=100):
            v = np.array([r[field] for r in rs], dtype=float) * scale
            return f'{v.mean():.1f}' + (f' ± {v.std(ddof=1):.1f}'
                                        if len(v) > 1 else '')

        name = key[0].replace('_', ' ') if key[1] is None else \
            f'{key[0]} {int(key[1] * 100)}%'
        lines.append(f'| {name} | {key[2]} | {key[3]} ({key[4]}) | '
                     f'{len(rs)} | {ms("wrong", 1)} | {ms("flagged", 1)} | '
                     f'{ms("precision")} | {ms("recall")} | {ms("f1")} |')
    return '\n'.join(lines) + '\n'


def _commit():
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                              cwd=ROOT,
                              capture_output=True,
                              text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return '?'


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    import mmbmix  # noqa: F401
    records = []
    for setting in args.noise:
        for seed in args.seeds:
            records += cached_cell_records(args, setting, seed)
    if not records:
        sys.exit('label_issues: no cell with a checkpoint; nothing to report')
    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.join(
        args.out_dir, 'label_issues' + run_args(args).report_suffix +
        ('' if args.balancemix == 'balancemix' else '_' + args.balancemix))
    with open(stem + '.json', 'w') as f:
        json.dump(rb._clean_nan(records), f, indent=1)
    with open(stem + '.md', 'w') as f:
        f.write(
            markdown(records,
                     'python benchmarks/label_issues.py ' + ' '.join(argv),
                     regime_text(run_args(args))))
    print(f'label_issues: {len(records)} records -> {stem}.json, {stem}.md')


if __name__ == '__main__':
    main()
