"""The config tree: every config loads, the grid of the paper's tables is
complete, and each config differs from its BCE twin only in the method."""
import functools
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmpretrain.registry import DATASETS, HOOKS, METRICS, MODELS

import mmbmix  # noqa: F401
from mmbmix.models import BalanceMixHead
from mmbmix.utils import hook_cfgs

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    f for f in glob.glob(
        osp.join(ROOT, 'configs', '**', '*.py'), recursive=True) if
    '_base_' not in f and 'own_data' not in f)  # the template: test_own_data
NAMES = {osp.basename(f)[:-3]: f for f in CONFIGS}


@functools.lru_cache(maxsize=None)
def _load(path):
    """Each config is parsed once for all the tests (read only)."""
    return Config.fromfile(path)


NOISES = {
    '': ('clean', 0.0),
    '_mislabel20': ('mislabel', 0.2),
    '_mislabel40': ('mislabel', 0.4),
    '_flip20': ('flip', 0.2),
    '_flip40': ('flip', 0.4),
    '_single-positive': ('single_positive', 0.0)
}
PAPER = ('resnet50_1xb16_voc07-448px', 'resnet50_1xb32_coco2014-448px',
         'resnet50_1xb32_deepfashion-448px')
MOSAIC = ('resnet-small_1xb32_mosaic-digits-32px',
          'resnet-small_1xb32_mosaic-fashion-mnist-32px')
METHODS = ('bce', 'mixup', 'asl', 'coteaching', 'llr', 'llct', 't_estimator',
           'balancemix', 'balancemix-split')
SPLIT_ARCHES = (*PAPER, 'efficientnet-lite0_1xb32_mosaic-fashion-mnist-64px')
# what a method adds to its BCE twin: top-level keys (and their helpers
# from configs/_base_/methods/), the model's parts, the default hooks
METHOD_MODEL_KEYS = ('type', 'forget_rate', 'num_gradual', 'predict_with',
                     'selection', 'train_cfg')


def _noise_of(name):
    for suffix in sorted(NOISES, key=len, reverse=True):
        if suffix and name.endswith(suffix):
            return suffix
    return ''


def test_config_grid_is_complete():
    """Tables 1-3: BCE and BalanceMix on the paper's three datasets under
    every noise setting; the mosaics: every method under every setting;
    every config sits in the folder of its method."""
    for arch in PAPER:
        for noise in NOISES:
            for m in ('bce', 'balancemix'):
                assert f'{m}_{arch}{noise}' in NAMES
    for arch in MOSAIC:
        for noise in NOISES:
            for m in METHODS[:-1]:  # the split family: SPLIT_ARCHES
                assert f'{m}_{arch}{noise}' in NAMES
    for extra in ('resnet101_1xb32_coco2014-448px',
                  'resnet101-mldecoder_1xb32_coco2014-448px',
                  'tresnet-l_1xb32_coco2014-448px',
                  'tresnet-l_1xb32_coco2014-640px',
                  'tresnet-l-mldecoder_1xb32_coco2014-640px',
                  'efficientnet-lite0_1xb32_mosaic-digits-64px_mislabel40',
                  'efficientnet-lite0_1xb32_mosaic-fashion-mnist-64px',
                  'efficientnet-lite0_1xb32_mosaic-fashion-mnist-64px_flip40'):
        assert f'balancemix_{extra}' in NAMES and f'bce_{extra}' in NAMES
    for name, path in NAMES.items():
        method = next(m for m in METHODS if name.startswith(m + '_'))
        assert osp.basename(osp.dirname(path)) == _folder(method), path
    for arch in SPLIT_ARCHES:
        for noise in NOISES:
            assert f'balancemix-split_{arch}{noise}' in NAMES


def _folder(method):
    """``balancemix-split`` configs live in ``configs/balancemix_split``."""
    return method.replace('-', '_')


@pytest.mark.parametrize(
    'name', [n for n in NAMES if n.startswith('balancemix-split_')])
def test_split_family_changes_two_values_of_its_balancemix_twin(name):
    """A balancemix-split config is its balancemix twin with the fits'
    split='disagree' and the mixing's alpha 1 (and, with single positive
    labels, the given positives clean), nothing else."""
    cfg = _load(NAMES[name]).to_dict()
    twin = _load(NAMES['balancemix_' + name[len('balancemix-split_'):]])
    twin = twin.to_dict()
    assert cfg['data_preprocessor']['mix'] == dict(
        type='MinorityMixup', alpha=1.0)
    assert twin['data_preprocessor']['mix']['alpha'] == 4.0
    manager = cfg['default_hooks']['label_manager']
    assert manager.pop('gmm') == dict(split='disagree')
    assert 'gmm' not in twin['default_hooks']['label_manager']
    # single positive labels: the given positives are taken as clean
    single = name.endswith('_single-positive')
    assert manager.pop('clean_positives', False) is single
    assert 'clean_positives' not in twin['default_hooks']['label_manager']
    cfg['data_preprocessor']['mix']['alpha'] = 4.0
    for key in ('balancemix_split_data_preprocessor', 'balancemix_split_hooks',
                'balancemix_split_single_positive_hooks'):
        cfg.pop(key)
    assert cfg == twin


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p))
def test_config_loads_and_names_registered_types(path):
    cfg = _load(path)
    assert MODELS.get(cfg.model.type) is not None
    assert MODELS.get(cfg.model.head.type) is not None
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'LabelNoiseDataset'
    assert DATASETS.get(ds.dataset.type) is not None
    assert METRICS.get(cfg.val_evaluator.type) is not None
    for hook in (*cfg.get('custom_hooks', []), *cfg.default_hooks.values()):
        if hook:
            assert HOOKS.get(hook['type']) is not None, hook
    name = osp.basename(path)[:-3]
    assert (ds.noise_type, ds.noise_rate) == NOISES[_noise_of(name)]
    if name.startswith('balancemix'):
        assert cfg.train_dataloader.batch_sampler.type == 'DualBatchSampler'
        assert cfg.data_preprocessor.type == 'BalanceMixDataPreprocessor'
        # BalanceMixHead or a head built on it (MLDecoderHead)
        assert issubclass(MODELS.get(cfg.model.head.type), BalanceMixHead)
        assert cfg.model.head.loss.type == 'BalanceMixLoss'
        (hook, ) = hook_cfgs(cfg, 'LabelManagerHook')
        eps = 0.55 if 'single-positive' in name else 0.975
        assert hook.relabel_threshold == eps
        warmup = 10 if 'coco2014' in name else 5
        if 'mosaic' in name:
            warmup = {
                '-30e_': 8,
                'efficientnet': 2
            }.get(
                next((k for k in ('-30e_', 'efficientnet') if k in name),
                     None), 3)
        assert hook.warmup_epochs == warmup
    # Every config's head agrees with its data preprocessor on K.
    assert cfg.model.head.num_classes == cfg.data_preprocessor.num_classes


def _strip_method(cfg, method):
    """The config as a dict without what ``method`` adds to BCE."""
    d = cfg.to_dict()
    for key in list(d):
        if key.startswith(('balancemix_', 'asl_', 'llr_', 'llct_',
                           'coteaching_', 't_estimator_', 'ml_decoder_')):
            d.pop(key)
    d['default_hooks'] = {
        k: v
        for k, v in d['default_hooks'].items()
        if k not in ('label_manager', 'epoch_seed', 't_estimator')
    }
    d.pop('custom_hooks', None)
    d['train_dataloader'].pop('batch_sampler', None)
    d['data_preprocessor'].pop('mix', None)
    d['data_preprocessor'].pop('type', None)
    model = d['model']
    for key in METHOD_MODEL_KEYS:
        model.pop(key, None)
    model['head'].pop('loss', None)
    if model['head']['type'] == 'BalanceMixHead':
        model['head']['type'] = 'MultiLabelLinearClsHead'
    return d


TWINS = [n for n in NAMES if not n.startswith('bce_')]


@pytest.mark.parametrize('name', TWINS)
def test_config_differs_from_its_bce_twin_only_in_the_method(name):
    method = next(m for m in METHODS if name.startswith(m + '_'))
    twin = 'bce_' + name[len(method) + 1:]
    assert twin in NAMES, f'{name} has no BCE twin {twin}'
    cfg, base = _load(NAMES[name]), _load(NAMES[twin])
    assert _strip_method(cfg, method) == _strip_method(base, 'bce')
    if method.startswith('balancemix'):
        assert cfg.model.head.loss.type == 'BalanceMixLoss'
    elif method != 'mixup':  # the others build on Mixup
        assert cfg.model.train_cfg.augments.type == 'Mixup'


def test_one_line_changes_one_hook_argument(tmp_path):
    """A child config changes the label manager's warm-up with one line and
    keeps the hook's other arguments and custom_hooks of its own."""
    child = tmp_path / 'child.py'
    parent = NAMES['balancemix_resnet50_1xb32_coco2014-448px_single-positive']
    child.write_text(
        f"_base_ = ['{parent}']\n"
        'default_hooks = dict(label_manager=dict(warmup_epochs=4))\n'
        "custom_hooks = [dict(type='EMAHook')]\n")
    cfg = Config.fromfile(str(child))
    (hook, ) = hook_cfgs(cfg, 'LabelManagerHook')
    assert (hook.warmup_epochs, hook.relabel_threshold) == (4, 0.55)
    assert [h.type for h in cfg.custom_hooks] == ['EMAHook']


def test_demo_family_differs_only_in_the_method():
    """The README demo: BCE, Mixup, ASL and BalanceMix on the same data,
    pipeline, backbone and schedule (mislabel 40%, 6 epochs)."""
    arch = 'efficientnet-lite0_1xb32_mosaic-digits-64px_mislabel40'
    bmix = Config.fromfile(NAMES[f'balancemix_{arch}'])
    for m in ('bce', 'mixup', 'asl'):
        base = Config.fromfile(NAMES[f'{m}_{arch}'])
        for key in ('param_scheduler', 'train_cfg', 'optim_wrapper',
                    'randomness', 'val_dataloader', 'val_evaluator'):
            assert bmix[key] == base[key], key
        assert bmix.train_dataloader.dataset == base.train_dataloader.dataset
        assert bmix.model.backbone == base.model.backbone
    ds = bmix.train_dataloader.dataset
    assert (ds.noise_type, ds.noise_rate, bmix.train_cfg.max_epochs) == \
        ('mislabel', 0.4, 6)
    assert ds.dataset.layout == 'free' and ds.dataset.source == 'digits'
    assert bmix.model.backbone.init_cfg.checkpoint == \
        'efficientnet-lite://lite0'


@pytest.mark.parametrize('method', METHODS)
def test_metafile_lists_every_config_of_its_folder(method):
    import yaml
    folder = osp.join(ROOT, 'configs', _folder(method))
    with open(osp.join(folder, 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    listed = {m['Name']: m['Config'] for m in meta['Models']}
    shipped = {n for n, p in NAMES.items() if osp.dirname(p) == folder}
    assert set(listed) == shipped
    for name, config in listed.items():
        assert config == f'configs/{_folder(method)}/{name}.py'
    (collection, ) = meta['Collections']
    assert all(m['In Collection'] == collection['Name']
               for m in meta['Models'])


# ---------------------------------------------------------------- Appendix D
# BalanceMix (Song, Kim, Lee, AAAI 2024), arXiv 2312.07087, Appendix D
# ("Experiment configuration"): two GPUs (DDP); ResNet-50 pre-trained on
# ImageNet-1K; 448 x 448; SGD momentum 0.9, weight decay 1e-4, lr 0.01,
# cosine annealing; a Transformer-based decoder as the classification head,
# "exactly the same for all compared methods"; per dataset the epochs, the
# batch (over both GPUs) and BalanceMix's warm-up; Co-teaching with an
# instance-level GMM (clean > 0.5); ASL gamma+ 0, gamma- 4, margin 0.05;
# LL-R / LL-Ct delta_rel 0.1 / 0.04 / 0.05 % per epoch; RandAugment for
# every method, Mixup for every method but the BCE default.
APPENDIX_D = {
    'voc07': dict(epochs=20, batch=32, warmup=5, delta_rel=0.001),
    'coco2014': dict(epochs=50, batch=64, warmup=10, delta_rel=0.0004),
    'deepfashion': dict(epochs=40, batch=64, warmup=5, delta_rel=0.0005),
}
PAPER_METHODS = ('bce', 'mixup', 'asl', 'coteaching', 'llr', 'llct',
                 't_estimator', 'balancemix')
PAPER_CONFIGS = [
    n for n in NAMES if '_resnet50_' in n and any(d in n for d in APPENDIX_D)
]


def test_every_paper_setting_has_a_config():
    for method in PAPER_METHODS:
        for data in APPENDIX_D:
            for noise in NOISES:
                assert any(
                    n.startswith(f'{method}_resnet50_') and data in n
                    and _noise_of(n) == noise
                    for n in PAPER_CONFIGS), (method, data, noise)


@pytest.mark.parametrize('name', PAPER_CONFIGS)
def test_paper_config_matches_appendix_d(name):
    cfg = _load(NAMES[name])
    data = next(d for d in APPENDIX_D if d in name)
    want = APPENDIX_D[data]
    method = name.split('_resnet50_')[0]
    model = cfg.model
    assert model.backbone.type == 'ResNet' and model.backbone.depth == 50
    assert 'resnet50_8xb32_in1k' in model.backbone.init_cfg.checkpoint
    assert model.neck is None and model.head.type == 'MLDecoderHead'
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 0.01,
                                                                  0.9, 1e-4)
    sched = cfg.param_scheduler
    assert sched.type == 'CosineAnnealingLR' and sched.T_max == want['epochs']
    assert cfg.train_cfg.max_epochs == want['epochs']
    assert 2 * cfg.train_dataloader.batch_size == want['batch']  # 2 GPUs
    assert cfg.auto_scale_lr.base_batch_size == want['batch']
    inner = cfg.train_dataloader.dataset.dataset
    kinds = [t['type'] for t in inner.pipeline]
    assert 'RandAugment' in kinds
    assert dict(type='Resize', scale=(448, 448)) in inner.pipeline
    mixup = model.get('train_cfg', {}).get('augments')
    if method == 'bce':
        assert mixup is None
    elif method.startswith('balancemix'):
        assert cfg.data_preprocessor.mix.type == 'MinorityMixup'
        (hook, ) = hook_cfgs(cfg, 'LabelManagerHook')
        assert hook.warmup_epochs == want['warmup']
    else:
        assert mixup == dict(type='Mixup', alpha=1.0)
    loss = model.head.loss
    if method == 'asl':
        assert (loss.type, loss.gamma_pos, loss.gamma_neg,
                loss.clip) == ('AsymmetricLoss', 0.0, 4.0, 0.05)
    if method in ('llr', 'llct'):
        assert loss.type == 'LargeLossRejectionLoss'
        assert loss.delta_rel == want['delta_rel']
        assert loss.mode == ('reject'
                             if method == 'llr' else 'correct_temporary')
    if method == 'coteaching':
        assert model.type == 'CoTeachingClassifier'
        assert model.selection == 'gmm'
    if method == 't_estimator':
        assert loss.type == 'TransitionReweightedLoss'
        (hook, ) = hook_cfgs(cfg, 'TEstimatorHook')
        assert hook.warmup_epochs == want['warmup']


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS if 'mosaic' in p],
    ids=lambda p: osp.basename(p))
def test_cpu_configs_run_under_upstream_train_with_num_workers_0(path):
    """mmpretrain's own tools/train.py turns persistent_workers on unless a
    config says otherwise, and torch refuses it with num_workers=0, which
    CPU users set: the mosaic (CPU) configs say False. The paper's GPU
    configs keep it on (docs/configs.md: --no-persistent-workers)."""
    cfg = _load(path)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            assert cfg[key].get('persistent_workers') is False, key
