"""How many of the wrong training labels a trained model has fitted.

Noise-robust methods guard against a model memorising its wrong labels;
where the model does not memorise them, there is little to guard against.
For each ``CONFIG CHECKPOINT`` pair (a training run on a
``LabelNoiseDataset``, which knows its clean labels) this predicts every
training instance with the test pipeline and prints, for the wrong and the
correct given labels, the share the model agrees with (sigmoid > 0.5 for a
given positive, < 0.5 for a given negative)::

    python benchmarks/memorisation.py \\
        work_dirs/robustness/<run>/bce/mislabel40/seed0/work/<config>.py \\
        work_dirs/robustness/<run>/bce/mislabel40/seed0/work/epoch_12.pth \\
        [CONFIG CHECKPOINT ...] [--json out.json]
"""
import argparse
import json
import os.path as osp
import sys

from mmengine.config import Config

import mmbmix  # noqa: F401  (registers the components)
from mmbmix.apis import (LabelStateError, build_train_set, load_labels,
                         predict_train_set)


def fitted_shares(confidence, given, clean) -> dict:
    """Shares (%) of the given labels the model agrees with, by kind."""
    agree = (confidence > 0.5) == given
    kinds = dict(
        wrong_positive=given & ~clean,
        wrong_negative=~given & clean,
        correct_positive=given & clean,
        correct_negative=~given & ~clean)
    out = {
        k: (100.0 * agree[m].float().mean().item() if m.any() else None)
        for k, m in kinds.items()
    }
    out['wrong'] = 100.0 * agree[given != clean].float().mean().item()
    out['correct'] = 100.0 * agree[given == clean].float().mean().item()
    out['noise_rate'] = 100.0 * (given != clean).float().mean().item()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('pairs', nargs='+', help='CONFIG CHECKPOINT [...]')
    p.add_argument('--json', help='also write the figures here')
    args = p.parse_args(argv)
    if len(args.pairs) % 2:
        p.error(f'expected CONFIG CHECKPOINT pairs, got {len(args.pairs)} '
                'paths')
    rows = []
    for cfg_path, ckpt in zip(args.pairs[::2], args.pairs[1::2]):
        if not osp.isfile(cfg_path):
            print(f'memorisation: no config file {cfg_path}', file=sys.stderr)
            return 1
        cfg = Config.fromfile(cfg_path)
        try:
            given, clean, _ = load_labels(
                build_train_set(cfg), require_clean=True)
            conf = predict_train_set(cfg, ckpt)
        except LabelStateError as err:
            print(f'memorisation: {ckpt}: {err}', file=sys.stderr)
            return 1
        rows.append(dict(checkpoint=ckpt, **fitted_shares(conf, given, clean)))
    keys = ('noise_rate', 'wrong', 'wrong_positive', 'wrong_negative',
            'correct', 'correct_positive', 'correct_negative')
    print('| checkpoint | ' + ' | '.join(keys) + ' |')
    print('|---|' + ':-:|' * len(keys))
    for r in rows:
        cells = ['–' if r[k] is None else f'{r[k]:.1f}' for k in keys]
        print(f'| {r["checkpoint"]} | ' + ' | '.join(cells) + ' |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
