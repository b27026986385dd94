"""Paper comparison: every method under every label-noise setting (Tables 1-3,
5 and 7, Fig. 6 of BalanceMix, on the mosaic benchmarks).

A *cell* is one (method, noise setting, seed) training run of the config
``configs/<method>/<method>_resnet-small_1xb32_mosaic-<dataset>-32px
[_<setting>].py``. Every cell runs in its own subprocess (this file with the
hidden ``--run-cell SPEC``), so that a crash or a timeout loses that cell
only. The child builds the mmengine Runner from the config with these
overrides, trains, and writes a JSON with the last-epoch metrics and, for
BalanceMix, the label manager's ``diagnostics`` after every epoch:

- ``randomness.seed`` = the cell's seed; the label noise is redrawn per seed
  too (``LabelNoiseDataset.seed`` = the cell's seed);
- ``--num-images`` training images (the test split keeps its 500 balanced
  images), ``--epochs`` epochs, validation at the last epoch only, no
  checkpoints, ``--num-workers`` dataloader workers;
- the epoch-based schedule parameters of the configs, written for 12 epochs,
  are scaled with the number of epochs (cosine ``T_max``/``end``, the label
  manager's ``warmup_epochs``, Co-teaching's ``num_gradual``) and LL-R/LL-Ct's
  ``delta_rel`` so that the last epoch rejects the same fraction; the label
  manager's ``shot_thresholds`` are scaled with the number of images. The
  evaluator's shot groups stay those of the configs (the same classes are
  many / medium / few-shot at every ``--num-images``).

Cell results are kept in the repository, as ``<out-dir>/cells/<run>/
<method>/<setting>/seed<k>.json`` (``<run>`` names the regime, dataset,
epochs and images, e.g. ``pretrained-free_fashion-mnist_e6_n2000``; a few
KB each, committed), and the training folders (logs, configs) under
``<work-root>/<run>/``; a cell whose result exists is skipped, so a stopped
run continues where it stopped, on this machine or after a fresh clone.
A cell is bit-reproducible at the same code and ``num_threads`` (recorded
in its JSON; set ``OMP_NUM_THREADS``): the thread count changes the order of
float sums, and the training trajectory with it.
At the end (and with ``--report-only``) the results are merged into
``benchmarks/results/robustness{,_scratch,_quick}.json`` (one record per
cell; the main file is the pretrained regime's; another ``--epochs`` or
``--num-images`` than the mode's adds ``_e<epochs>_n<images>``) and ``.md``
(tables in the paper's layout) and plotted (``..._map_vs_noise.png``,
``..._few_shot_share.png``).

Regimes: ``--regime pretrained`` (default) fine-tunes ImageNet
EfficientNet-Lite0 on the 64 px fashion mosaic: each method's from-scratch
config with the model, data and schedule of ``REGIME_FILES``
(:func:`apply_regime`), 2000 images x 6 epochs by default.
``--regime scratch`` is the earlier small ResNet from scratch.

Record fields: method, noise_type ("clean", "mislabel", "flip",
"single_positive"), noise_rate (0.0 for clean, null for single positive),
seed, map_all / map_many / map_medium / map_few (last-epoch mAP, percent),
label_precision / label_recall / relabel_proportion / relabel_accuracy
(Eq. 12-13 at the last epoch, fractions in [0, 1]), label_precision_pos /
label_recall_pos (Eq. 12 over the given positives; null in cells run before
2026-12-04 23:30) (null for methods without
label management or where the clean labels are unknown) and train_seconds
(wall time of ``runner.train()``, final validation included).

What a cell and the whole grid cost (measured): ``docs/performance.md``
("The robustness benchmark's cost"). Better fidelity for the same time: one
seed (``--seeds 0``) with more images and epochs.

Usage:
    python benchmarks/robustness.py                 # pretrained regime
    python benchmarks/robustness.py --regime scratch  # from scratch
    python benchmarks/robustness.py --quick         # digits mosaic, smaller
    python benchmarks/robustness.py --methods bce balancemix \\
        --noise clean mislabel40 --seeds 0 --ablation
    python benchmarks/robustness.py --report-only
"""
import argparse
import datetime
import json
import math
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from typing import List, NamedTuple, Optional

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

METHODS = ('bce', 'mixup', 'asl', 'coteaching', 'llr', 'llct', 't_estimator',
           'balancemix')
METHOD_NAMES = dict(
    bce='BCE (default)',
    mixup='BCE + Mixup',
    asl='ASL',
    coteaching='Co-teaching',
    llr='LL-R',
    llct='LL-Ct',
    t_estimator='T-estimator',
    balancemix='BalanceMix')
# name: (noise_type, noise_rate, config suffix, column label)
SETTINGS = {
    'clean': ('clean', 0.0, '', 'clean'),
    'mislabel20': ('mislabel', 0.2, '_mislabel20', 'mislabel 20%'),
    'mislabel40': ('mislabel', 0.4, '_mislabel40', 'mislabel 40%'),
    'flip20': ('flip', 0.2, '_flip20', 'flip 20%'),
    'flip40': ('flip', 0.4, '_flip40', 'flip 40%'),
    'single-positive':
    ('single_positive', None, '_single-positive', 'single positive'),
}
# The pretrained regime: the from-scratch configs of each method and setting
# with the model, data and schedule of these fragments (apply_regime).
REGIME_FILES = dict(
    model='configs/_base_/models/efficientnet_lite0_pretrained.py',
    data='configs/_base_/datasets/mosaic_fashion_mnist_64px.py',
    schedule='configs/_base_/schedules/mosaic_finetune.py')
# Named class orders of the train split (most to least frequent;
# MosaicMultiLabel's ``class_order``): 'confusable_rare' makes the four
# upper-body classes that Fashion-MNIST confuses (shirt, coat, pullover,
# t-shirt) the rare ones, and the easy ones (trouser, bag, footwear) the
# frequent ones.
CLASS_ORDERS = dict(
    confusable_rare=('trouser', 'bag', 'sneaker', 'sandal', 'ankle_boot',
                     'dress', 'tshirt_top', 'pullover', 'coat', 'shirt'))


def class_order(name: str) -> str:
    """A name of ``CLASS_ORDERS`` (the ``class_order`` lever's type)."""
    if name not in CLASS_ORDERS:
        raise ValueError(name)
    return name


class_order.kind = 'one of ' + ', '.join(CLASS_ORDERS)  # parse_levers' text

# Levers of the pretrained regime (--set KEY=VALUE; issue "A benchmark regime
# that can tell"): each changes one thing of the data, model or schedule, and
# the run folder names them (run_name).
LEVERS = dict(
    layout=str,  # 'free' (the regime's), 'scatter' or 'grid'
    tile_size=int,  # canvas side = 2 * tile_size, input resized to it
    imbalance_ratio=float,
    max_tiles=int,
    lr=float,
    warmup=int,  # BalanceMix warm-up epochs (absolute, not scaled)
    val_every=int,  # validate every N epochs (per-epoch mAP in the record)
    class_order=class_order,  # a name of CLASS_ORDERS (train split only)
)
# Table 5: components added one by one; '+ ambiguous' is BalanceMix itself.
ABLATION = {
    'bmix_random': dict(use_minority_sampler=False, use_clean=False),
    'bmix_minority': dict(use_clean=False),
    'bmix_clean': dict(use_relabel=False, use_ambiguous=False),
    'bmix_relabel': dict(use_ambiguous=False),
}
ABLATION_ROWS = (
    ('bce', 'Default (BCE loss)'),
    ('bmix_random', '+ Random sampler (= Mixup)'),
    ('bmix_minority', '+ Minority sampler (Eq. 4)'),
    ('bmix_clean', '+ Clean labels (Eq. 8)'),
    ('bmix_relabel', '+ Re-labeled labels (Eq. 9)'),
    ('balancemix', '+ Ambiguous labels (Eq. 10)'),
)
ABLATION_SETTINGS = ('clean', 'mislabel40', 'flip40', 'single-positive')
# BalanceMix with the statistics collected during the training steps instead
# of the audit pass (issue: show both ways on the quick mode).
ALPHA1 = dict(type='MinorityMixup', alpha=1.0)
# BalanceMix-split's two changes (configs/_base_/methods/balancemix_split.py)
SPLIT_FAMILY = dict(
    gmm=dict(split='disagree'), data_preprocessor=dict(mix=ALPHA1))
# the paper's rule with a floor of 0.5 on the ambiguous weight, at alpha 1
FLOOR_FAMILY = dict(weight_floor=0.5, data_preprocessor=dict(mix=ALPHA1))
STATS_VARIANTS = {
    'balancemix_online':
    dict(stats_source='online'),
    # Eq. 3 with mean P over positives + mean A over negatives
    'balancemix_meanscore':
    dict(score_form='mean'),
    # a set is split only where its noisy component's mean
    # loss is above log 2 (issue: defect 7)
    'balancemix_disagree':
    dict(gmm=dict(split='disagree')),
    # the given positives taken as clean (missing labels)
    'balancemix_cleanpos':
    dict(clean_positives=True),
    # no N x K state: histogram statistics of the per-batch manager
    'balancemix_sparse':
    dict(sparse=True),
    # the previous default: decided once per epoch from an audit pass after
    # it, frozen for the next
    'balancemix_audit':
    dict(stats_source='audit'),
    # the per-batch default with one view (the training view) for Eq. 9
    'balancemix_1view':
    dict(num_views=1),
    # label variants (issue 28): ambiguous labels trained towards
    # p_G y + (1 - p_G) f(x) at weight 1; a floor on their weight
    'balancemix_refine':
    dict(ambiguous='refine'),
    'balancemix_floor':
    dict(weight_floor=0.5),
    # Eq. 3 scored by the instance's least confident label; each half of a
    # mixed target at its own label weight (the mixup criterion)
    'balancemix_minscore':
    dict(score_form='min'),
    'balancemix_perhalf':
    dict(data_preprocessor=dict(label_weighting='per_half')),
    # batch-norm statistics of unmixed images before validation (issue 28)
    'balancemix_unmixedbn':
    dict(custom_hooks=[dict(type='UnmixedBNHook')]),
    # both changes the diagnosis points to (issue 28)
    'balancemix_disagree_perhalf':
    dict(
        gmm=dict(split='disagree'),
        data_preprocessor=dict(label_weighting='per_half')),
    # the split rule with a sampler that oversamples (issue 28)
    'balancemix_disagree_minscore':
    dict(gmm=dict(split='disagree'), score_form='min'),
    # the mixing's own cost: Beta(1, 1) instead of the paper's alpha 4,
    # without and with label management (appendix E: alpha 1 -> 80.3,
    # alpha 4 -> 81.6 at COCO mislabel 40%)
    'bmix_minority_alpha1':
    dict(use_clean=False, data_preprocessor=dict(mix=ALPHA1)),
    'balancemix_disagree_alpha1':
    SPLIT_FAMILY,
    'balancemix_disagree_minscore_alpha1':
    dict(SPLIT_FAMILY, score_form='min'),
    'balancemix_floor_alpha1':
    FLOOR_FAMILY,
    # the same with the given positives taken as clean (single positive)
    'balancemix_floor_alpha1_cleanpos':
    dict(FLOOR_FAMILY, clean_positives=True),
    # BalanceMix-split with the given positives taken as clean: with single
    # positive labels the split rule re-labels correct positives to 0
    'balancemix_disagree_alpha1_cleanpos':
    dict(SPLIT_FAMILY, clean_positives=True),
}
# Table 5 of BalanceMix-split (issue 28: "Table 5 for the best"): the same
# steps with alpha 1 and the split rule; its last row is the family itself.
SPLIT_ABLATION = {
    'bmix_random_alpha1':
    dict(
        use_minority_sampler=False,
        use_clean=False,
        data_preprocessor=dict(mix=ALPHA1)),
    'bmix_clean_split':
    dict(SPLIT_FAMILY, use_relabel=False, use_ambiguous=False),
    'bmix_relabel_split':
    dict(SPLIT_FAMILY, use_ambiguous=False),
}
SPLIT_ABLATION_ROWS = (
    ('bce', 'Default (BCE loss)'),
    ('bmix_random_alpha1', '+ Random sampler (= Mixup, alpha 1)'),
    ('bmix_minority_alpha1', '+ Minority sampler (Eq. 4)'),
    ('bmix_clean_split', '+ Clean labels (Eq. 8, split rule)'),
    ('bmix_relabel_split', '+ Re-labeled labels (Eq. 9)'),
    ('balancemix_disagree_alpha1', '+ Ambiguous labels (Eq. 10): '
     'BalanceMix-split'),
)
VARIANTS = {**ABLATION, **STATS_VARIANTS, **SPLIT_ABLATION}
# MS-COCO last-epoch mAP (All), BCE -> BalanceMix, Tables 1-3.
PAPER_COCO = {
    'clean': (83.4, 85.2),
    'mislabel20': (73.1, 84.3),
    'mislabel40': (63.8, 81.6),
    'flip20': (59.8, 76.5),
    'flip40': (43.5, 74.5),
    'single-positive': (69.7, 77.4)
}
# Defaults sized for 126 cells in about 2 h on 2 free CPU cores (see the
# module docstring); the configs' own protocol is 2000 images, 12 epochs.
MODES = dict(
    # the paper's regime: ImageNet EfficientNet-Lite0 fine-tuned on the 64 px
    # fashion mosaic (REGIME_FILES below)
    pretrained=dict(
        dataset='fashion-mnist', epochs=6, num_images=2000, seeds=[0, 1, 2]),
    full=dict(
        dataset='fashion-mnist', epochs=4, num_images=500, seeds=[0, 1, 2]),
    # one seed: 42 cells of about 12 s (start-up and validation dominate),
    # under 15 minutes on 2 cores; three seeds take about 27 minutes
    quick=dict(dataset='digits', epochs=3, num_images=256, seeds=[0]))
METRIC_KEYS = dict(
    map_all='multi-label/mAP',
    map_many='multi-label/mAP_many',
    map_medium='multi-label/mAP_medium',
    map_few='multi-label/mAP_few')
GROUPS = (('map_all', 'All'), ('map_many', 'Many'), ('map_medium', 'Medium'),
          ('map_few', 'Few'))
LABEL_KEYS = dict(
    label_precision='precision',
    label_recall='recall',
    relabel_proportion='relabel_proportion',
    relabel_accuracy='relabel_accuracy',
    label_precision_pos='precision_pos',
    label_recall_pos='recall_pos')
RECORD_FIELDS = ('method', 'noise_type', 'noise_rate', 'seed', 'map_all',
                 'map_many', 'map_medium', 'map_few', 'label_precision',
                 'label_recall', 'relabel_proportion', 'relabel_accuracy',
                 'label_precision_pos', 'label_recall_pos', 'train_seconds',
                 'regime')
PROGRESS = (0.25, 0.5, 1.0)  # Table 7 rows
KEEP_CHECKPOINT = ('bce', 'balancemix', 'balancemix_disagree',
                   'balancemix_perhalf', 'balancemix_disagree_perhalf',
                   'balancemix_disagree_minscore',
                   'balancemix_disagree_alpha1',
                   'balancemix_disagree_alpha1_cleanpos',
                   'balancemix_floor_alpha1',
                   'balancemix_floor_alpha1_cleanpos')


class Cell(NamedTuple):
    method: str
    setting: str
    seed: int

    def __str__(self):
        return f'{self.method}/{self.setting}/seed{self.seed}'


class CellError(RuntimeError):
    """A cell's training subprocess failed or produced no result."""


# ------------------------------------------------------------------ planning
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='BalanceMix paper comparison on the mosaic benchmarks')
    p.add_argument(
        '--methods',
        nargs='+',
        default=list(METHODS),
        choices=list(METHODS) + list(VARIANTS),
        help='methods; balancemix_online is BalanceMix with '
        "stats_source='online' (for the statistics-source table)")
    p.add_argument(
        '--noise', nargs='+', default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument(
        '--seeds',
        nargs='+',
        type=int,
        help='seeds (default: 0 1 2; with --quick: 0)')
    p.add_argument(
        '--regime',
        choices=('pretrained', 'scratch'),
        default='pretrained',
        help='pretrained (default): ImageNet EfficientNet-Lite0 '
        'fine-tuned on the 64 px fashion mosaic; scratch: the '
        'small ResNet from scratch (the earlier tables)')
    p.add_argument(
        '--quick',
        action='store_true',
        help=f'digits mosaic, {MODES["quick"]["num_images"]} '
        f'images, {MODES["quick"]["epochs"]} epochs, seed 0 '
        '(default: '
        f'fashion-mnist, {MODES["full"]["num_images"]} images, '
        f'{MODES["full"]["epochs"]} epochs)')
    p.add_argument(
        '--set',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='pretrained-regime levers: ' + ', '.join(LEVERS) +
        ' (e.g. --set layout=scatter tile_size=48)')
    p.add_argument('--epochs', type=int, help='training epochs per cell')
    p.add_argument('--num-images', type=int, help='training images')
    p.add_argument(
        '--num-workers',
        type=int,
        default=0,
        help='dataloader workers per cell (default 0)')
    p.add_argument(
        '--ablation',
        action='store_true',
        help='also run the Table 5 variants of BalanceMix on '
        '--ablation-noise')
    p.add_argument(
        '--ablation-noise',
        nargs='+',
        default=list(ABLATION_SETTINGS),
        choices=list(SETTINGS))
    p.add_argument(
        '--cell-timeout',
        type=float,
        help='seconds after which a cell is killed (failed)')
    p.add_argument('--out-dir', default=osp.join('benchmarks', 'results'))
    p.add_argument('--work-root', default=osp.join('work_dirs', 'robustness'))
    p.add_argument(
        '--retrain-restored',
        action='store_true',
        help='train again the planned cells whose result was '
        'restored from a summary (no training folder, no '
        'per-epoch diagnostics, no checkpoint)')
    p.add_argument(
        '--report-only',
        action='store_true',
        help='only merge existing cell results into the report')
    p.add_argument(
        '--prepare-data',
        action='store_true',
        help='only generate (pre-render) the train and test mosaics of the '
        'planned cells, then exit')
    p.add_argument('--run-cell', metavar='SPEC', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    mode = MODES['quick' if args.quick else
                 ('pretrained' if args.regime == 'pretrained' else 'full')]
    if args.quick:
        args.regime = 'scratch'
    args.dataset = mode['dataset']
    args.seeds = args.seeds or mode['seeds']
    args.epochs = args.epochs or mode['epochs']
    args.num_images = args.num_images or mode['num_images']
    # a size other than the mode's reports beside it, not over it
    args.report_suffix = '' if (args.epochs, args.num_images) == (
        mode['epochs'], mode['num_images']) else \
        f'_e{args.epochs}_n{args.num_images}'
    args.levers = parse_levers(args.set, p.error)
    if 'class_order' in args.levers:  # another class order, another report
        args.report_suffix += '_' + args.levers['class_order']
    if args.levers and args.regime != 'pretrained':
        p.error('--set takes the pretrained regime')
    if args.epochs < 1 or args.num_images < 10:
        p.error(f'--epochs must be >= 1 and --num-images >= 10, got '
                f'{args.epochs} and {args.num_images}')
    return args


def parse_levers(items, error=None) -> dict:
    """``['layout=scatter', 'lr=0.02']`` -> ``{'layout': 'scatter', 'lr':
    0.02}``, typed by ``LEVERS``; a bad item is a one-line error."""
    levers = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or key not in LEVERS:
            msg = (f'robustness: --set {item!r}: expected KEY=VALUE with KEY '
                   f'one of {", ".join(LEVERS)}')
            if error is None:
                raise ValueError(msg)
            error(msg)
        try:
            levers[key] = LEVERS[key](value)
        except ValueError:
            kind = getattr(LEVERS[key], 'kind', 'a ' + LEVERS[key].__name__)
            msg = (f'robustness: --set {item!r}: {key} takes {kind}, got '
                   f'{value!r}')
            if error is None:
                raise ValueError(msg)
            error(msg)
    return levers


def plan_cells(args, ablation: Optional[bool] = None) -> List[Cell]:
    """Cells to run, seed-major so that every seed completes a table."""
    ablation = args.ablation if ablation is None else ablation
    wanted = {(m, s) for m in args.methods for s in args.noise}
    if ablation:
        for s in args.ablation_noise:
            wanted |= {(m, s) for m in ('bce', *ABLATION, 'balancemix')}
    order = {m: i for i, m in enumerate((*METHODS, *VARIANTS))}
    setting_order = {s: i for i, s in enumerate(SETTINGS)}
    pairs = sorted(wanted, key=lambda p: (setting_order[p[1]], order[p[0]]))
    return [Cell(m, s, seed) for seed in args.seeds for m, s in pairs]


def same_run(args):
    """The robustness run another script names with the same
    ``--work-root``, ``--out-dir`` (where it has them), ``--epochs``,
    ``--num-images`` and ``--set``: its parsed arguments (cell folders,
    configs, report suffix)."""
    argv = ['--work-root', args.work_root]
    if getattr(args, 'out_dir', None):
        argv += ['--out-dir', args.out_dir]
    if args.epochs:
        argv += ['--epochs', str(args.epochs)]
    if args.num_images:
        argv += ['--num-images', str(args.num_images)]
    if args.set:
        argv += ['--set', *args.set]
    return parse_args(argv)


def run_name(args) -> str:
    # pretrained-free: the regime's layout (the earlier grid-layout runs are
    # kept under pretrained-grid_)
    levers = dict(getattr(args, 'levers', None) or {})
    prefix = ''
    if getattr(args, 'regime', 'scratch') == 'pretrained':
        levers.pop('val_every', None)  # changes no training
        prefix = 'pretrained-' + str(levers.pop('layout', 'free'))
        prefix += ''.join(f'-{k}{v:g}' if isinstance(v, float) else f'-{k}{v}'
                          for k, v in sorted(levers.items()))
        prefix += '_'
    return f'{prefix}{args.dataset}_e{args.epochs}_n{args.num_images}'


def run_dir(args) -> str:
    return osp.join(args.work_root, run_name(args))


def store_dir(args) -> str:
    return osp.join(args.out_dir, 'cells', run_name(args))


def result_path(args, cell: Cell) -> str:
    """Where a finished cell's result lives (committed with the repo)."""
    return osp.join(
        store_dir(args), cell.method, cell.setting, f'seed{cell.seed}.json')


def cell_dir(args, cell: Cell) -> str:
    return osp.join(
        run_dir(args), cell.method, cell.setting, f'seed{cell.seed}')


def config_path(method: str, setting: str, dataset: str) -> str:
    base = 'balancemix' if method in ('balancemix', *VARIANTS) else method
    name = (f'{base}_resnet-small_1xb32_mosaic-{dataset}-32px'
            f'{SETTINGS[setting][2]}.py')
    path = osp.join(ROOT, 'configs', base, name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'robustness: config {path} (method '
                                f'{method!r}, setting {setting!r}) is missing')
    return path


def cell_spec(args, cell: Cell) -> dict:
    """Everything the child process needs to train one cell."""
    folder = osp.abspath(cell_dir(args, cell))
    return dict(
        method=cell.method,
        setting=cell.setting,
        seed=cell.seed,
        dataset=args.dataset,
        config=config_path(cell.method, cell.setting, args.dataset),
        work_dir=osp.join(folder, 'work'),
        output=osp.join(folder, 'raw.json'),
        log=osp.join(folder, 'train.log'),
        epochs=args.epochs,
        num_images=args.num_images,
        num_workers=args.num_workers,
        hook_overrides=VARIANTS.get(cell.method, {}),
        regime=getattr(args, 'regime', 'scratch'),
        levers=dict(getattr(args, 'levers', None) or {}),
        timeout=args.cell_timeout)


# ------------------------------------------------------------- the parent
def run_cell(spec: dict) -> dict:
    """Train one cell in a subprocess; return the child's result dict.

    Raises:
        CellError: the child exited non-zero, timed out, or wrote nothing.
    """
    os.makedirs(osp.dirname(spec['output']), exist_ok=True)
    spec_file = osp.join(osp.dirname(spec['output']), 'spec.json')
    _dump(spec, spec_file)
    if osp.exists(spec['output']):
        os.remove(spec['output'])
    cmd = [sys.executable, osp.abspath(__file__), '--run-cell', spec_file]
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    with open(spec['log'], 'w') as log:
        try:
            proc = subprocess.run(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=spec.get('timeout'))
        except subprocess.TimeoutExpired:
            raise CellError(f'timed out after {spec["timeout"]} s; log '
                            f'{spec["log"]}') from None
    if proc.returncode != 0 or not osp.isfile(spec['output']):
        raise CellError(f'exit code {proc.returncode}; log {spec["log"]}:\n' +
                        _tail(spec['log']))
    with open(spec['output']) as f:
        return json.load(f)


def _tail(path: str, lines: int = 8) -> str:
    with open(path, errors='replace') as f:
        return ''.join(f.readlines()[-lines:])


def _dump(obj, path: str) -> None:
    """Write JSON atomically (NaN as null)."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(_clean_nan(obj), f, indent=1)
    os.replace(tmp, path)


def _clean_nan(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_nan(v) for v in obj]
    return obj


def load_result(args, cell: Cell) -> Optional[dict]:
    path = result_path(args, cell)
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            result = json.load(f)
    except (OSError, ValueError):
        return None  # half-written or damaged: run the cell again
    return result if result.get('metrics') else None


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def run_all(args, cells: List[Cell]) -> List[str]:
    """Run the unfinished cells; return the failures' descriptions."""
    todo = [
        c for c in cells if load_result(args, c) is None or (
            args.retrain_restored and 'restored_from' in load_result(args, c))
    ]
    print(
        f'robustness: {len(cells)} cells, {len(cells) - len(todo)} done '
        f'earlier, {len(todo)} to run ({args.dataset} mosaic, '
        f'{args.num_images} images, {args.epochs} epoch(s)) -> '
        f'{run_dir(args)}',
        flush=True)
    failures, durations, start = [], [], time.time()
    for i, cell in enumerate(cells, 1):
        if cell not in todo:
            print(
                f'[{i}/{len(cells)}] {cell}: done earlier, skipped',
                flush=True)
            continue
        t0 = time.time()
        try:
            result = run_cell(cell_spec(args, cell))
        except CellError as err:
            failures.append(f'{cell}: {err}')
            msg = f'FAILED ({str(err).splitlines()[0]})'
        else:
            result.update(
                method=cell.method,
                setting=cell.setting,
                seed=cell.seed,
                cell_seconds=time.time() - t0)
            os.makedirs(osp.dirname(result_path(args, cell)), exist_ok=True)
            _dump(result, result_path(args, cell))
            msg = f'mAP {_fmt(result["metrics"].get("map_all"))}'
        durations.append(time.time() - t0)
        left = len(todo) - len(durations)
        eta = sum(durations) / len(durations) * left
        print(
            f'[{i}/{len(cells)}] {cell}: {msg} in {durations[-1]:.0f} s | '
            f'elapsed {_hms(time.time() - start)} | ETA {_hms(eta)}',
            flush=True)
    return failures


# --------------------------------------------------------------- the child
def _recorder_hook():
    """A hook that keeps the val metrics and the label manager's
    diagnostics of every epoch (built here: the parent never imports
    mmengine)."""
    from mmengine.hooks import Hook

    class CellRecorder(Hook):
        priority = 'LOWEST'  # after LabelManagerHook (NORMAL) has logged

        def __init__(self):
            self.epochs, self.metrics, self.val_history = [], {}, []

        def before_train_epoch(self, runner):
            self._t0 = time.perf_counter()

        def after_train_epoch(self, runner):
            rec = dict(
                epoch=runner.epoch + 1, seconds=time.perf_counter() - self._t0)
            for hook in runner.hooks:
                if type(hook).__name__ == 'LabelManagerHook':
                    rec.update(hook.diagnostics)
            self.epochs.append(rec)

        def after_val_epoch(self, runner, metrics=None):
            self.metrics = {k: float(v) for k, v in (metrics or {}).items()}
            self.val_history.append(dict(epoch=runner.epoch, **self.metrics))

    return CellRecorder()


def _scale(value: int, epochs: int, base: int) -> int:
    return 0 if value <= 0 else max(1, round(value * epochs / base))


def apply_regime(cfg) -> None:
    """Turn a from-scratch mosaic config into the pretrained regime: the
    model's backbone, neck and head width, the dataset's tile size, data
    root and pipelines, the preprocessor's normalisation and the optimizer's
    lr come from ``REGIME_FILES``; the method (head loss, classifier type,
    sampler, preprocessor type, hooks) stays."""
    from mmengine.config import Config
    parts = {
        k: Config.fromfile(osp.join(ROOT, v))
        for k, v in REGIME_FILES.items()
    }
    model, data, sched = parts['model'], parts['data'], parts['schedule']
    cfg.model.backbone = model.model.backbone
    cfg.model.neck = model.model.neck
    cfg.model.head.in_channels = model.model.head.in_channels
    for key in ('mean', 'std'):
        cfg.data_preprocessor[key] = data.data_preprocessor[key]
    for key, pipeline in (('train_dataloader', data.train_pipeline),
                          ('val_dataloader', data.test_pipeline),
                          ('test_dataloader', data.test_pipeline)):
        if not cfg.get(key):
            continue
        dataset = cfg[key].dataset
        if dataset.type == 'LabelNoiseDataset':
            dataset = dataset.dataset
        dataset.update(
            tile_size=data.mosaic.tile_size,
            layout=data.mosaic.get('layout', 'grid'),
            data_root=data.data_root,
            pipeline=pipeline)
    cfg.test_pipeline = data.test_pipeline  # what the analysis tools use
    cfg.optim_wrapper.optimizer.lr = sched.optim_wrapper.optimizer.lr
    # The epoch-based schedules (cosine, warm-up, Co-teaching's gradual
    # forgetting, LL-R's rejection rate) keep the config's shape and are
    # scaled to --epochs by build_cell_config like in the scratch regime.


def apply_levers(cfg, levers: dict) -> None:
    """The ``--set`` levers (see ``LEVERS``) on a pretrained-regime config
    (after :func:`apply_regime`)."""
    data_keys = ('layout', 'tile_size', 'imbalance_ratio', 'max_tiles')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if not cfg.get(key):
            continue
        dataset = cfg[key].dataset
        if dataset.type == 'LabelNoiseDataset':
            dataset = dataset.dataset
        for k in data_keys:
            if k in levers and not (k == 'imbalance_ratio'
                                    and key != 'train_dataloader'):
                dataset[k] = levers[k]
        if 'class_order' in levers and key == 'train_dataloader':
            dataset['class_order'] = CLASS_ORDERS[levers['class_order']]
        if 'tile_size' in levers:
            side = 2 * levers['tile_size']
            for t in dataset.pipeline:
                if t['type'] == 'Resize':
                    t['scale'] = (side, side)
    if 'tile_size' in levers:
        for t in cfg.test_pipeline:
            if t['type'] == 'Resize':
                side = 2 * levers['tile_size']
                t['scale'] = (side, side)
    if 'lr' in levers:
        cfg.optim_wrapper.optimizer.lr = levers['lr']


def build_cell_config(spec: dict):
    """The cell's mmengine Config: the method's config (in the pretrained
    regime: after :func:`apply_regime`) with the overrides listed in the
    module docstring."""
    from mmengine.config import Config
    cfg = Config.fromfile(spec['config'])
    if spec.get('regime') == 'pretrained':
        apply_regime(cfg)
    levers = spec.get('levers') or {}
    apply_levers(cfg, levers)
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(key)
        if isinstance(evaluator, dict) and \
                evaluator.get('type') == 'ShotGroupAveragePrecision':
            evaluator.per_class = True  # per-class AP in each record
    name = spec['config']
    epochs, base_epochs = spec['epochs'], cfg.train_cfg.max_epochs
    cfg.work_dir = spec['work_dir']
    cfg.randomness = dict(seed=spec['seed'], deterministic=False)
    dataset = cfg.train_dataloader.dataset
    if dataset.type == 'LabelNoiseDataset':
        dataset.seed = spec['seed']
        dataset = dataset.dataset
    if dataset.type != 'MosaicMultiLabel':
        raise ValueError(f'{name}: field train_dataloader.dataset has type '
                         f'{dataset.type!r}; robustness.py needs '
                         'MosaicMultiLabel (or LabelNoiseDataset around it)')
    dataset.num_images = spec['num_images']
    shot_thresholds = _fit_shot_groups(cfg, dataset)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            cfg[key].num_workers = spec['num_workers']
            cfg[key].persistent_workers = spec['num_workers'] > 0
    cfg.train_cfg = dict(
        by_epoch=True,
        max_epochs=epochs,
        val_interval=levers.get('val_every', epochs))
    schedulers = cfg.param_scheduler
    for sched in schedulers if isinstance(schedulers, list) else [schedulers]:
        for key in ('T_max', 'begin', 'end'):
            if key in sched:
                sched[key] = min(epochs,
                                 round(sched[key] * epochs / base_epochs))
    # the last checkpoint of BCE and BalanceMix (model and label state) is
    # kept for the label-issue tools (benchmarks/label_issues.py)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook',
        interval=epochs,
        max_keep_ckpts=1,
        save_optimizer=False) if spec['method'] in KEEP_CHECKPOINT else None
    _scale_method_schedules(cfg, spec, epochs, base_epochs, shot_thresholds)
    return cfg


def _fit_shot_groups(cfg, dataset) -> tuple:
    """The evaluators' class counts from the train split actually built,
    and shot thresholds at their terciles (many / medium / few-shot = 3 / 4
    / 3 classes whatever the imbalance ratio and the number of images);
    returns the thresholds."""
    from mmbmix.datasets import MosaicMultiLabel
    from mmbmix.evaluation import tercile_thresholds
    counts = MosaicMultiLabel.train_class_counts(**{
        k: v
        for k, v in dataset.items() if k != 'type'
    }).tolist()
    thresholds = tercile_thresholds(counts)
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(key)
        if not (isinstance(evaluator, dict)
                and evaluator.get('type') == 'ShotGroupAveragePrecision'):
            continue
        evaluator.class_counts = counts
        evaluator.shot_thresholds = thresholds
    return thresholds


def _scale_method_schedules(cfg, spec, epochs, base_epochs, shot_thresholds):
    overrides = dict(spec.get('hook_overrides') or {})
    from mmbmix.utils import hook_cfgs
    extra_hooks = overrides.pop('custom_hooks', [])
    if extra_hooks:  # a hook of the variant's own (e.g. UnmixedBNHook)
        cfg.custom_hooks = [*cfg.get('custom_hooks', []), *extra_hooks]
    preprocessor = overrides.pop('data_preprocessor', None)
    if preprocessor:  # a variant of the mixing (e.g. label_weighting)
        cfg.data_preprocessor.update(preprocessor)
        if cfg.model.get('data_preprocessor'):
            cfg.model.data_preprocessor.update(preprocessor)
    hooks = hook_cfgs(cfg, 'LabelManagerHook')
    if overrides and not hooks:
        raise ValueError(f'{spec["config"]}: fields default_hooks and '
                         'custom_hooks have no LabelManagerHook for the '
                         f'ablation switches {overrides}')
    levers = spec.get('levers') or {}
    for hook in hooks:
        hook.warmup_epochs = levers['warmup'] if 'warmup' in levers else \
            _scale(hook.get('warmup_epochs', 5), epochs, base_epochs)
        hook.shot_thresholds = shot_thresholds  # the evaluators' groups
        hook.update(overrides)
    for hook in hook_cfgs(cfg, 'TEstimatorHook'):  # at least one epoch
        hook.warmup_epochs = max(
            1, _scale(hook.get('warmup_epochs', 3), epochs, base_epochs))
    model = cfg.model
    if model.get('type') == 'CoTeachingClassifier':
        model.num_gradual = _scale(
            model.get('num_gradual', 10), epochs, base_epochs)
    loss = model.get('head', {}).get('loss', {})
    if loss.get('type') == 'LargeLossRejectionLoss' and epochs > 1:
        start = loss.get('start_epoch', 1)
        steps, base_steps = epochs - start, base_epochs - start
        if steps > 0 and base_steps > 0:
            loss.delta_rel = min(
                1.0,
                loss.get('delta_rel', 0.002) * base_steps / steps)


def run_cell_child(spec_file: str) -> None:
    """Entry point of the subprocess: train one cell, write its JSON."""
    with open(spec_file) as f:
        spec = json.load(f)
    import torch
    from mmengine.runner import Runner

    import mmbmix  # noqa: F401  (registers the components)
    cfg = build_cell_config(spec)
    runner = Runner.from_cfg(cfg)
    recorder = _recorder_hook()
    runner.register_hook(recorder)
    t0 = time.perf_counter()
    runner.train()
    seconds = time.perf_counter() - t0
    missing = [k for k in METRIC_KEYS.values() if k not in recorder.metrics]
    if missing:
        raise RuntimeError(f'{spec["config"]}: the last-epoch validation '
                           f'gave no {missing}; got '
                           f'{sorted(recorder.metrics)}')
    dataset = runner.train_dataloader.dataset
    _dump(
        dict(
            metrics={
                k: recorder.metrics[v]
                for k, v in METRIC_KEYS.items()
            },
            epochs=recorder.epochs,
            train_seconds=seconds,
            noise_stats=getattr(dataset, 'noise_stats', None),
            config=osp.relpath(spec['config'], ROOT),
            num_images=spec['num_images'],
            num_epochs=spec['epochs'],
            dataset=spec['dataset'],
            regime=spec.get('regime', 'scratch'),
            levers=spec.get('levers') or {},
            per_class_ap={
                k: v
                for k, v in recorder.metrics.items() if '/AP/' in k
            },
            val_history=recorder.val_history,
            hook_overrides=spec['hook_overrides'],
            num_threads=torch.get_num_threads()), spec['output'])


# ---------------------------------------------------------------- records
def regime_name(result: dict) -> str:
    """The regime a cell ran in, named as its cell folder (e.g.
    ``pretrained-scatter-imbalance_ratio10_fashion-mnist_e12_n4000``)."""
    from types import SimpleNamespace
    return run_name(
        SimpleNamespace(
            regime=result.get('regime', 'scratch'),
            levers=result.get('levers') or {},
            dataset=result.get('dataset', 'fashion-mnist'),
            epochs=result.get('num_epochs'),
            num_images=result.get('num_images')))


def to_record(result: dict) -> dict:
    """One robustness.json record from a cell result."""
    noise_type, rate = SETTINGS[result['setting']][:2]
    last = result['epochs'][-1] if result.get('epochs') else {}
    rec = dict(
        method=result['method'],
        noise_type=noise_type,
        noise_rate=rate,
        seed=result['seed'])
    rec.update({k: result['metrics'].get(k) for k in METRIC_KEYS})
    rec.update({k: last.get(v) for k, v in LABEL_KEYS.items()})
    rec['train_seconds'] = result.get('train_seconds')
    rec['regime'] = regime_name(result)
    return _clean_nan({k: rec[k] for k in RECORD_FIELDS})


def _values(results, method, setting, key) -> List[float]:
    """Finite values of ``key`` (see :func:`_record_field`) of the cells of
    ``method`` x ``setting``."""
    values = [
        _record_field(r, key) for r in results
        if r['method'] == method and r['setting'] == setting
    ]
    return [v for v in values if v is not None and math.isfinite(v)]


def _mean_std(values):
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = sum((v - mean)**2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def _fmt(value, std=None, scale=1.0, digits=1) -> str:
    if value is None:
        return '–'
    text = f'{value * scale:.{digits}f}'
    return text if std is None else f'{text} ± {std * scale:.{digits}f}'


def _table(header: List[str], rows: List[List[str]]) -> List[str]:
    lines = [
        '| ' + ' | '.join(header) + ' |',
        '|' + '|'.join(['---'] + [':-:'] * (len(header) - 1)) + '|'
    ]
    return lines + ['| ' + ' | '.join(r) + ' |' for r in rows]


def map_table(results, methods, columns) -> List[str]:
    """Methods x (group, setting) columns of mean ± std mAP, the best mean
    of each column in bold."""
    header = ['Method'] + [f'{g} {SETTINGS[s][3]}' for _, g, s in columns]
    stats = {
        (m, c): _mean_std(_values(results, m, c[2], c[0]))
        for m in methods
        for c in columns
    }
    best = {}
    for c in columns:
        means = [stats[m, c][0] for m in methods if stats[m, c][0] is not None]
        best[c] = max(means) if means else None
    rows = []
    for m in methods:
        row = [METHOD_NAMES.get(m, m)]
        for c in columns:
            mean, std = stats[m, c]
            text = _fmt(mean, std)
            row.append(f'**{text}**'
                       if mean is not None and mean == best[c] else text)
        rows.append(row)
    return _table(header, rows)


def _present(results, settings):
    have = {r['setting'] for r in results}
    return [s for s in settings if s in have]


def _paper_tables(results, methods) -> List[str]:
    lines = []
    families = (('Table 1: mislabeling (class-dependent), last-epoch mAP',
                 ('clean', 'mislabel20',
                  'mislabel40')), ('Table 2: random flipping, last-epoch mAP',
                                   ('clean', 'flip20', 'flip40')),
                ('Table 3: missing labels (single positive), last-epoch mAP',
                 ('single-positive', )))
    for title, settings in families:
        settings = _present(results, settings)
        if not settings:
            continue
        columns = [(key, group, s) for key, group in GROUPS for s in settings]
        lines += [f'## {title}', ''] + map_table(results, methods, columns)
        lines.append('')
    return lines


def _headline_table(results, methods) -> List[str]:
    """All-class mAP of every method under every setting (the README's
    table): mean ± std, the seed count in brackets where fewer than the
    most of any cell, the best mean per column in bold."""
    settings = _present(results, SETTINGS)
    variants = [
        m for m in ('balancemix_online', 'balancemix_disagree')
        if any(r['method'] == m for r in results)
    ]
    rows_of = list(methods) + variants
    stats = {
        (m, s): _values(results, m, s, 'map_all')
        for m in rows_of
        for s in settings
    }
    most = max((len(v) for v in stats.values()), default=0)
    best = {}
    for s in settings:
        means = [_mean_std(stats[m, s])[0] for m in methods if stats[m, s]]
        best[s] = max(means) if means else None
    rows = []
    for m in rows_of:
        row = [METHOD_NAMES.get(m) or f'BalanceMix, `{VARIANT_NAMES[m]}`']
        for s in settings:
            mean, std = _mean_std(stats[m, s])
            text = _fmt(mean, std)
            if mean is not None and len(stats[m, s]) < most:
                text += f' ({len(stats[m, s])})'
            row.append(f'**{text}**' if mean is not None and m in methods
                       and mean == best[s] else text)
        rows.append(row)
    header = ['Method'] + [SETTINGS[s][3] for s in settings]
    return ([
        '## All-class mAP under every setting', '',
        f'Mean ± std over seeds; (n): n seeds where fewer than {most}; '
        'the best of the paper\'s methods in bold (the variants below '
        'BalanceMix are not ranked).', ''
    ] + _table(header, rows) + [''])


def _targets_table(results, methods) -> List[str]:
    """The issue's targets for BalanceMix, each with the figure measured
    (means over seeds at the last epoch) and whether it is met."""

    def _met(ours, goal):
        # compared as printed (one decimal): a tie meets the target
        return 'yes' if round(ours, 1) >= round(goal, 1) else 'no'

    def mean(method, setting, key='map_all'):
        return _mean_std(_values(results, method, setting, key))[0]

    def best_other(setting, key):
        vals = [(mean(m, setting, key), m) for m in methods
                if m != 'balancemix' and mean(m, setting, key) is not None]
        return max(vals) if vals else (None, None)

    rows = []
    for key, what, settings in (('map_all', 'best all-class mAP',
                                 ('mislabel40', 'flip40', 'single-positive')),
                                ('map_few', 'best few-shot mAP',
                                 ('mislabel20', 'mislabel40', 'flip20',
                                  'flip40', 'single-positive'))):
        for s in _present(results, settings):
            ours = mean('balancemix', s, key)
            other, who = best_other(s, key)
            if ours is None or other is None:
                continue
            rows.append([
                f'{what}, {SETTINGS[s][3]}', f'{ours:.1f}',
                f'{other:.1f} ({METHOD_NAMES[who]})',
                _met(ours, other)
            ])
    for s in _present(results, SETTINGS):
        ours, bce = mean('balancemix', s), mean('bce', s)
        if ours is not None and bce is not None:
            rows.append([
                f'all-class mAP >= BCE, {SETTINGS[s][3]}', f'{ours:.1f}',
                f'{bce:.1f} (BCE)',
                _met(ours, bce)
            ])
    for key, label, goal in (('label_precision', 'label precision',
                              0.94), ('label_recall', 'label recall', 0.90),
                             ('label_precision_pos',
                              'label precision (given positives)',
                              0.94), ('label_recall_pos',
                                      'label recall (given positives)', 0.90),
                             ('relabel_accuracy', 're-label accuracy', 0.95)):
        for s in ('mislabel20', 'mislabel40'):
            if key != 'relabel_accuracy' and s != 'mislabel40':
                continue
            ours = mean('balancemix', s, key)
            if ours is not None:
                rows.append([
                    f'{label}, {SETTINGS[s][3]}', f'{100 * ours:.1f}%',
                    f'{100 * goal:.0f}% (target)',
                    _met(100 * ours, 100 * goal)
                ])
    if not rows:
        return []
    return (['## Targets (BalanceMix, mean over seeds, last epoch)', ''] +
            _table(['Target', 'BalanceMix', 'to reach', 'met'], rows) + [''])


def _gap_table(results) -> List[str]:
    rows = []
    for s in _present(results, SETTINGS):
        bce = _mean_std(_values(results, 'bce', s, 'map_all'))
        ours = _mean_std(_values(results, 'balancemix', s, 'map_all'))
        if bce[0] is None or ours[0] is None:
            continue
        p_bce, p_ours = PAPER_COCO[s]
        rows.append([
            SETTINGS[s][3],
            _fmt(*bce),
            _fmt(*ours), f'{ours[0] - bce[0]:+.1f}', f'{p_bce:.1f}',
            f'{p_ours:.1f}', f'{p_ours - p_bce:+.1f}'
        ])
    if not rows:
        return []
    header = [
        'Setting', 'BCE', 'BalanceMix', 'gap (here)', 'BCE (paper, COCO)',
        'BalanceMix (paper, COCO)', 'gap (paper, COCO)'
    ]
    return (['## BalanceMix over BCE (mAP, All)', ''] + _table(header, rows) +
            [''])


def _best_epoch_table(results, methods) -> List[str]:
    """Last-epoch mAP against the best validated epoch's (issue 27: does a
    method fall after its best epoch, as the paper's last-epoch protocol
    assumes?): "last / best (best epoch of each seed)", means over seeds."""
    settings = _present(results, SETTINGS)
    key = METRIC_KEYS['map_all']
    rows = []
    # with BalanceMix-split, the floor and the alpha-1 mixing alone
    for m in list(methods) + [
            'balancemix_disagree_alpha1', 'balancemix_floor_alpha1',
            'bmix_minority_alpha1'
    ]:
        name = METHOD_NAMES.get(m) or f'BalanceMix, `{VARIANT_NAMES[m]}`'
        row, seen = [name], False
        for s in settings:
            cells = sorted(
                (r for r in results if r['method'] == m and r['setting'] == s
                 and len(r.get('val_history') or ()) > 1),
                key=lambda r: r['seed'])
            if not cells:
                row.append('–')
                continue
            seen = True
            best = [
                max(cell['val_history'], key=lambda v: v[key])
                for cell in cells
            ]
            last = _mean_std([c['val_history'][-1][key] for c in cells])[0]
            top = _mean_std([b[key] for b in best])[0]
            row.append(f'{last:.1f} / {top:.1f} (' +
                       ','.join(str(b['epoch']) for b in best) + ')')
        if seen:
            rows.append(row)
    if not rows:
        return []
    return [
        '## Last epoch against best epoch (mAP All, last / best validated '
        'epoch, mean over seeds; in brackets the best epoch of each seed)', ''
    ] + _table(['Method'] + [SETTINGS[s][3] for s in settings], rows) + ['']


def _of_seeds(results, seeds):
    return [r for r in results if r['seed'] in seeds]


def _ablation_table(results,
                    rows=ABLATION_ROWS,
                    title='Table 5: component ablation') -> List[str]:
    """Table 5: each of ``rows`` (method, label) with its gain over the row
    above, in every setting where a step of the ablation (a row other than
    the first and the last) has a cell."""
    steps = {m for m, _ in rows[1:-1]}
    settings = [
        s for s in _present(results, SETTINGS)
        if any(r['method'] in steps and r['setting'] == s for r in results)
    ]
    if not settings:
        return []
    # each row over the same seeds, so that a gain compares like with like
    # (a row with no cell in a setting is left out of its seeds and shows -)
    seeds = {}
    for s in settings:
        have = [{
            r['seed']
            for r in results if r['method'] == m and r['setting'] == s
        } for m, _ in rows]
        seeds[s] = sorted(set.intersection(*[h for h in have if h]))
    table, prev = [], None
    for method, label in rows:
        means = [
            _mean_std(
                _values(_of_seeds(results, seeds[s]), method, s, 'map_all'))[0]
            for s in settings
        ]
        known = [m for m in means if m is not None]
        means.append(
            sum(known) / len(known) if len(known) == len(settings) else None)
        row = [label]
        for j, mean in enumerate(means):
            text = _fmt(mean)
            if prev is not None and mean is not None and \
                    prev[j] is not None:
                text += f' ({mean - prev[j]:+.1f})'
            row.append(text)
        table.append(row)
        # a gain is over the last row above with a figure
        prev = means if prev is None else [
            m if m is not None else p for m, p in zip(means, prev)
        ]
    header = ['Variant'] + [SETTINGS[s][3] for s in settings] + ['Average']
    table.append(['seeds'] + [' '.join(map(str, seeds[s]))
                              for s in settings] + [''])
    return ([
        f'## {title} (mAP All, mean over the seeds every row has; gain over '
        'the row above)', ''
    ] + _table(header, table) + [''])


def _record_field(result, key):
    """A metric, a last-epoch label diagnostic or the training time."""
    if key in result['metrics']:
        return result['metrics'][key]
    if key == 'train_seconds':
        return result.get('train_seconds')
    last = (result.get('epochs') or [{}])[-1]
    return last.get(LABEL_KEYS.get(key, key))


VARIANT_NAMES = dict(
    balancemix='BalanceMix (defaults)',
    balancemix_online="stats_source='online'",
    balancemix_meanscore="score_form='mean'",
    balancemix_disagree="gmm split='disagree'",
    balancemix_cleanpos='clean_positives=True',
    balancemix_sparse='sparse=True',
    balancemix_audit="stats_source='audit' (default before 2026-12-04)",
    balancemix_1view='num_views=1',
    balancemix_refine="ambiguous='refine'",
    balancemix_floor='weight_floor=0.5',
    balancemix_minscore="score_form='min'",
    balancemix_perhalf="label_weighting='per_half'",
    balancemix_disagree_perhalf="split='disagree' + per_half",
    balancemix_unmixedbn='UnmixedBNHook',
    balancemix_disagree_minscore="split='disagree' + score_form='min'",
    bmix_minority_alpha1='mixing alone (no label management), alpha 1',
    balancemix_disagree_alpha1="split='disagree', alpha 1",
    balancemix_disagree_minscore_alpha1=(
        "split='disagree' + score_form='min', alpha 1"),
    balancemix_disagree_alpha1_cleanpos=(
        "split='disagree', alpha 1, clean_positives=True"),
    balancemix_floor_alpha1='weight_floor=0.5, alpha 1',
    balancemix_floor_alpha1_cleanpos='weight_floor=0.5, alpha 1, '
    'positives clean')


def _stats_source_table(results) -> List[str]:
    """BalanceMix against each of its variants (statistics source, Eq. 3
    form, split rule, given positives clean), where they were run."""
    keys = (('map_all', 'mAP All', 1), ('map_few', 'mAP Few', 1),
            ('label_precision', 'precision', 100),
            ('label_recall', 'recall', 100), ('train_seconds', 'train s', 1))
    rows = []
    for s in _present(results, SETTINGS):
        variants = [
            m for m in STATS_VARIANTS
            if any(r['method'] == m and r['setting'] == s for r in results)
        ]
        for method in ('balancemix', *variants) if variants else ():
            row = [SETTINGS[s][3], VARIANT_NAMES.get(method, method)]
            seeds = sorted({
                r['seed']
                for r in results if r['method'] == method and r['setting'] == s
            })
            row.append(' '.join(map(str, seeds)))
            for key, _, scale in keys:
                vals = _values(results, method, s, key)
                row.append(_fmt(*_mean_std(vals), scale=scale))
            rows.append(row)
    if not rows:
        return []
    header = ['Setting', 'variant', 'seeds'] + [k[1] for k in keys]
    return ([
        '## BalanceMix variants (mean ± std over the seeds listed; '
        'precision / recall at the last epoch, %)', ''
    ] + _table(header, rows) + [''])


DECISION_SETTINGS = ABLATION_SETTINGS  # issue 28's four settings, Table 5's


def rule_verdict(results, variant: str, seeds: int = 3) -> dict:
    """Issue 28's rule for a label variant, from the cells: per setting of
    ``DECISION_SETTINGS``, whether the variant beats the paper's rule
    (``balancemix``) by more than the larger of the two sample stds (both
    with at least ``seeds`` seeds) and whether its mean beats BCE's.
    ``family``: True where it beats the paper's rule in at least 3 settings
    and BCE in at least 2, False where that can no longer happen, None
    while it can.

    Returns:
        dict: ``settings`` (setting -> dict of ``paper``, ``variant``,
        ``bce`` (mean, std, n), ``diff``, ``spread``, ``above_spread`` and
        ``beats_bce``: True, False or None when undecided), ``above``,
        ``beats_bce`` (counts of True) and ``family``.
    """
    out, above, beats, open_above, open_bce = {}, 0, 0, 0, 0
    for s in DECISION_SETTINGS:
        stats = {}
        for key, m in (('paper', 'balancemix'), ('variant', variant), ('bce',
                                                                       'bce')):
            vals = _values(results, m, s, 'map_all')
            stats[key] = (*_mean_std(vals), len(vals))
        (pm, ps, pn), (vm, vs, vn), (bm, _,
                                     bn) = (stats['paper'], stats['variant'],
                                            stats['bce'])
        row = dict(
            stats, diff=None, spread=None, above_spread=None, beats_bce=None)
        if pm is not None and vm is not None:
            row['diff'] = vm - pm
        if pn >= seeds and vn >= seeds:
            row['spread'] = max(ps, vs)
            row['above_spread'] = row['diff'] > row['spread']
        if bn >= seeds and vn >= seeds:
            row['beats_bce'] = vm > bm
        above += row['above_spread'] is True
        beats += row['beats_bce'] is True
        open_above += row['above_spread'] is None
        open_bce += row['beats_bce'] is None
        out[s] = row
    if above >= 3 and beats >= 2:
        family = True
    elif above + open_above < 3 or beats + open_bce < 2:
        family = False
    else:
        family = None
    return dict(settings=out, above=above, beats_bce=beats, family=family)


def _decision_table(results) -> List[str]:
    """Issue 28's rule for every label variant with a cell in the four
    settings: beat the paper's rule by more than the 3-seed spread in 3 of
    4 settings and BCE in 2."""
    variants = [
        m for m in STATS_VARIANTS
        if not m.startswith('bmix_')  # no label management: not a rule
        and any(r['method'] == m and r['setting'] in DECISION_SETTINGS
                for r in results)
    ]
    if not variants or not any(r['method'] == 'balancemix' for r in results):
        return []

    def mean(stat):
        m, sd, n = stat
        return '–' if m is None else _fmt(m, sd) + (f' ({n})' if n < 3 else '')

    def yes(flag):
        return '?' if flag is None else ('yes' if flag else 'no')

    rows = []
    for v in variants:
        verdict = rule_verdict(results, v)
        for s, row in verdict['settings'].items():
            rows.append([
                VARIANT_NAMES.get(v, v), SETTINGS[s][3],
                mean(row['paper']),
                mean(row['variant']),
                mean(row['bce']),
                '–' if row['diff'] is None else f"{row['diff']:+.1f}",
                '–' if row['spread'] is None else f"{row['spread']:.1f}",
                yes(row['above_spread']),
                yes(row['beats_bce'])
            ])
        rows.append([
            VARIANT_NAMES.get(v, v), '**rule**', '', '', '', '', '',
            f"{verdict['above']} of 4", f"{verdict['beats_bce']} of 4 -> " + {
                True: '**met**',
                False: 'not met',
                None: 'open'
            }[verdict['family']]
        ])
    header = [
        'variant', 'setting', "paper's rule", 'variant', 'BCE',
        'variant - paper', 'larger std', 'above the spread', 'beats BCE'
    ]
    return ([
        "## Issue 28's rule: a variant's config family (beat the paper's "
        'rule by more than the 3-seed spread in 3 of 4 settings, BCE in 2; '
        '(n): seeds where fewer than 3; ?: undecided until 3 seeds)', ''
    ] + _table(header, rows) + [''])


def _at_progress(result, fraction) -> dict:
    epochs = result.get('epochs') or []
    if not epochs:
        return {}
    target = max(1,
                 math.ceil(fraction * result.get('num_epochs', len(epochs))))
    for rec in epochs:
        if rec['epoch'] == target:
            return rec
    return {}


def _relabel_with_confirmed(rec) -> Optional[float]:
    """Share of the labels Eq. 9 decided: re-labeled plus confirmed (a
    decision equal to the given value); None in cells run before the
    confirmed share was recorded."""
    if rec.get('relabel_frac') is None or rec.get('confirmed_frac') is None:
        return None
    return rec['relabel_frac'] + rec['confirmed_frac']


def _correct_share(result, positives: bool = False) -> Optional[float]:
    """The share of correct labels among all given labels (or among the
    given positives): the precision of a selection that picks at random."""
    stats = result.get('noise_stats')
    if not stats:
        return None
    if not positives:
        return 1.0 - stats['rate_all']
    kept = stats['num_pos_clean'] * (1.0 - stats['rate_pos'])
    return kept / max(stats['num_pos_noisy'], 1)


# Table 7's blocks: (title, ((column, epoch-record key or function), ...),
# the precision of a random selection or None)
LABEL_BLOCKS = (
    ('Clean label selection over all labels (Eq. 8, 12)',
     (('precision', 'precision'), ('recall', 'recall')), _correct_share),
    ('Clean label selection over the given positives (Eq. 12)',
     (('precision', 'precision_pos'),
      ('recall', 'recall_pos')), lambda r: _correct_share(r, True)),
    ('Re-labeling (Eq. 9, 13): share re-labeled, share decided by Eq. 9 '
     '(re-labeled + confirmed), accuracy',
     (('re-labeled', 'relabel_proportion'), ('with confirmed',
                                             _relabel_with_confirmed),
      ('accuracy', 'relabel_accuracy')), None),
)


def _label_table(results,
                 method='balancemix',
                 title='BalanceMix') -> List[str]:
    """Table 7 of ``method``: its label selection and re-labeling at 25%,
    50% and 100% of the epochs, in every setting whose cells know the
    clean labels."""
    bm = [r for r in results if r['method'] == method]
    settings = [
        s for s in _present(bm, SETTINGS)
        if any(r['setting'] == s and r['epochs']
               and r['epochs'][-1].get('precision') is not None for r in bm)
    ]
    if not settings:
        return []
    lines = [
        f'## Table 7: {title} clean-label selection and re-labeling '
        '(%, mean ± std over seeds)', ''
    ]
    for block, keys, chance in LABEL_BLOCKS:
        header = ['Training progress'] + [
            f'{SETTINGS[s][3]} {name}' for s in settings for name, _ in keys
        ]
        rows = []
        if chance is not None:  # precision at random: the correct share
            row = ['chance (share correct)']
            for s in settings:
                vals = [chance(r) for r in bm if r['setting'] == s]
                vals = [v for v in vals if v is not None]
                row += [_fmt(*_mean_std(vals), scale=100)] + ['–'] * (
                    len(keys) - 1)
            rows.append(row)
        for frac in PROGRESS:
            row = [f'{int(frac * 100)}% epochs']
            for s in settings:
                for _, key in keys:
                    recs = [
                        _at_progress(r, frac) for r in bm if r['setting'] == s
                    ]
                    vals = [
                        key(rec) if callable(key) else rec.get(key)
                        for rec in recs
                    ]
                    vals = [
                        v for v in vals if v is not None and math.isfinite(v)
                    ]
                    row.append(_fmt(*_mean_std(vals), scale=100))
            rows.append(row)
        lines += [f'**{block}**', ''] + _table(header, rows) + ['']
    return lines


def write_markdown(path, results, args, meta, failures, figures) -> None:
    methods = [m for m in METHODS if any(r['method'] == m for r in results)]
    seeds = sorted({r['seed'] for r in results})
    now = datetime.datetime.now().strftime('%Y-%m-%d %H:%M')
    lines = [
        '# Robustness benchmark: the BalanceMix paper comparison',
        '',
        f'Mosaic **{args.dataset}**, {args.num_images} training images, '
        f'{args.epochs} epoch(s), seeds {seeds} ({len(results)} cells). '
        'mAP in percent at the last epoch, mean ± sample std over seeds '
        '(no ± with one seed); best mean per column in bold. The label '
        'noise is redrawn per seed. Shot groups at the terciles of the '
        'training class counts (many / medium / few-shot = 3 / 4 / 3 '
        'classes). Regime: '
        f'`{", ".join(sorted({regime_name(r) for r in results}))}`; the '
        'commands that made the cells are at the end.',
        '',
    ]
    made = ['## How the cells were made', ''] + [
        f'- cells run by: `{r["command"]}` ({r.get("date", "?")}' +
        (f', commit {r["commit"]}' if r.get('commit') else '') + ')'
        for r in meta.get('runs') or ([meta] if 'command' in meta else [])
    ] + [
        f'- report written by: `{args.command}` ({now})',
        f'- cell results: `{store_dir(args)}`', ''
    ]
    lines += _headline_table(results, methods)
    lines += _targets_table(results, methods)
    lines += _paper_tables(results, methods)
    lines += _gap_table(results)
    lines += _best_epoch_table(results, methods)
    lines += _ablation_table(results)
    lines += _ablation_table(results, SPLIT_ABLATION_ROWS,
                             'Table 5 of BalanceMix-split')
    lines += _stats_source_table(results)
    lines += _decision_table(results)
    lines += _label_table(results)
    lines += _label_table(results, 'balancemix_disagree_alpha1',
                          'BalanceMix-split')
    if figures:
        lines += ['## Figures', ''] + [f'![{f}]({f})' for f in figures] + ['']
    if failures:
        lines += ['## Failed cells', ''
                  ] + [f'- {f.splitlines()[0]}' for f in failures] + ['']
    lines += made
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


# ------------------------------------------------------------------ plots
def plot_map_vs_noise(path, results) -> bool:
    families = [(t, [
        s for s in _present(results, SETTINGS)
        if SETTINGS[s][0] in ('clean', t)
    ]) for t in ('mislabel', 'flip')]
    families = [(t, s) for t, s in families
                if any(SETTINGS[x][0] == t for x in s)]
    if not families:
        return False
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(
        1, len(families), figsize=(5.5 * len(families), 4), squeeze=False)
    for ax, (noise_type, settings) in zip(axes[0], families):
        for m in METHODS:
            pts = [(100 * SETTINGS[s][1],
                    *_mean_std(_values(results, m, s, 'map_all')))
                   for s in settings]
            pts = [p for p in pts if p[1] is not None]
            if pts:
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                            yerr=[p[2] or 0 for p in pts],
                            marker='o',
                            capsize=3,
                            label=METHOD_NAMES[m])
        ax.set_xticks([100 * SETTINGS[s][1] for s in settings])
        ax.set(
            title=f'{noise_type} noise',
            xlabel='noise rate (%)',
            ylabel='last-epoch mAP, all classes (%)')
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_few_shot_share(path, results) -> bool:
    """Fig. 6: the minority sampler's probability share of the instances
    with a few-shot label, per epoch (BalanceMix, mean over seeds)."""
    bm = [
        r for r in results if r['method'] == 'balancemix' and r['epochs']
        and r['epochs'][0].get('few_shot_share') is not None
    ]
    if not bm:
        return False
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401
    fig, ax = plt.subplots(figsize=(6, 4))
    uniform = []
    for s in _present(bm, SETTINGS):
        runs = [r['epochs'] for r in bm if r['setting'] == s]
        n = min(len(e) for e in runs)
        share = [
            sum(e[i]['few_shot_share'] for e in runs) / len(runs)
            for i in range(n)
        ]
        ax.plot(
            range(1, n + 1), [100 * v for v in share],
            marker='o',
            label=SETTINGS[s][3])
        uniform += [e[0]['few_shot_share_uniform'] for e in runs]
    ax.axhline(
        100 * sum(uniform) / len(uniform),
        color='k',
        ls='--',
        label='uniform sampling')
    ax.set(
        xlabel='epoch',
        ylabel='few-shot share of sampling prob. (%)',
        title='Minority sampler (Fig. 6)')
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# ------------------------------------------------------------------- main
def all_cells(args) -> List[Cell]:
    """Every cell of every method and variant for ``args.seeds``: the
    report covers whatever earlier commands finished in this run folder."""
    return [
        Cell(m, s, seed) for seed in args.seeds for s in SETTINGS
        for m in (*METHODS, *VARIANTS)
    ]


def _git_commit() -> Optional[str]:
    """The checked-out commit (with '+' when the tree has changes)."""
    try:
        head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                              cwd=ROOT,
                              capture_output=True,
                              text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '-uno'],
                               cwd=ROOT,
                               capture_output=True,
                               text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ('+' if dirty else '')) or None


def _record_command(args) -> None:
    """Append this command to the run folder's ``meta.json``."""
    path = osp.join(store_dir(args), 'meta.json')
    meta = {}
    if osp.isfile(path):
        with open(path) as f:
            meta = json.load(f)
    runs = meta.get('runs') or ([
        dict(command=meta['command'], date=meta.get('date'))
    ] if 'command' in meta else [])
    runs.append(
        dict(
            command=args.command,
            date=datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
            commit=_git_commit()))
    _dump(dict(runs=runs), path)


def regroup_by_terciles(args, done) -> None:
    """Many / medium / few-shot mAP of each result recomputed from its
    per-class AP, with the groups at the terciles of the training class
    counts (as new cells are run): cells of an earlier version scaled fixed
    thresholds, which leave a group empty at imbalance ratio 10."""
    from mmbmix.evaluation import tercile_thresholds
    from mmbmix.evaluation.metrics.shot_group_map import shot_groups
    counts = None
    for cell, result in done:
        ap = result.get('per_class_ap')
        if not ap:
            continue
        if counts is None:  # one dataset per run
            cfg = build_cell_config(cell_spec(args, cell))
            counts = cfg.val_evaluator.class_counts
            groups = shot_groups(counts, *tercile_thresholds(counts))
        values = np.array(list(ap.values()), dtype=np.float64)
        if len(values) != len(counts):
            continue
        for name, mask in groups.items():
            result['metrics'][f'map_{name}'] = float(values[mask].mean()) \
                if mask.any() else None


def report(args, cells, failures=()) -> dict:
    """Merge the cell results of ``cells`` into the JSON, markdown and
    plots; return their paths."""
    done = [(c, load_result(args, c)) for c in cells]
    done = [(c, r) for c, r in done if r]
    if not done:
        raise SystemExit(f'robustness: no finished cell under '
                         f'{store_dir(args)}; nothing to report')
    results = [r for _, r in done]
    regroup_by_terciles(args, done)
    os.makedirs(args.out_dir, exist_ok=True)
    name = 'robustness_quick' if args.quick else \
        'robustness_scratch' if args.regime == 'scratch' else 'robustness'
    stem = osp.join(args.out_dir, name + args.report_suffix)
    paths = dict(
        json=stem + '.json',
        md=stem + '.md',
        map_plot=stem + '_map_vs_noise.png',
        share_plot=stem + '_few_shot_share.png')
    _dump([to_record(r) for r in results], paths['json'])
    figures = []
    for key, plot in (('map_plot', plot_map_vs_noise), ('share_plot',
                                                        plot_few_shot_share)):
        if plot(paths[key], results):
            figures.append(osp.basename(paths[key]))
    meta_file = osp.join(store_dir(args), 'meta.json')
    meta = {}
    if osp.isfile(meta_file):
        with open(meta_file) as f:
            meta = json.load(f)
    write_markdown(paths['md'], results, args, meta, list(failures), figures)
    print(
        f'robustness: {len(results)} cells -> {paths["json"]}, '
        f'{paths["md"]}',
        flush=True)
    return paths


def prepare_data(args, cells) -> None:
    """Generate the mosaics the cells will read (each split once)."""
    from mmpretrain.registry import DATASETS

    import mmbmix  # noqa: F401  (registers the components)
    cfg = build_cell_config(cell_spec(args, cells[0]))
    for key in ('train_dataloader', 'val_dataloader'):
        dataset = cfg[key].dataset
        if dataset.type == 'LabelNoiseDataset':
            dataset = dataset.dataset
        built = DATASETS.build(dataset)
        print(
            f'robustness: {key}: {len(built)} images in {built.folder}',
            flush=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.run_cell:
        run_cell_child(args.run_cell)
        return 0
    args.command = 'python benchmarks/robustness.py ' + shlex.join(argv)
    if args.report_only:
        report(args, all_cells(args))
        return 0
    cells = plan_cells(args)
    if args.prepare_data:
        prepare_data(args, cells)
        return 0
    os.makedirs(store_dir(args), exist_ok=True)
    _record_command(args)
    failures = run_all(args, cells)
    report(args, all_cells(args), failures)
    if failures:
        print(
            f'robustness: {len(failures)} cells failed:\n' +
            '\n'.join(failures),
            file=sys.stderr)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
