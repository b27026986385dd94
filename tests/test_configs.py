"""Every shipped config loads, and the BalanceMix ones hold all four parts."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmpretrain.registry import DATASETS, HOOKS, METRICS, MODELS

import mmbmix  # noqa: F401
from mmbmix.models import BalanceMixHead

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    f for f in glob.glob(
        osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in f)


def test_config_grid_is_complete():
    names = {osp.basename(f)[:-3] for f in CONFIGS}
    for ds in ('voc07', 'coco2014', 'deepfashion'):
        for noise in ('', '_mislabel20', '_mislabel40', '_flip20', '_flip40',
                      '_single-positive'):
            assert f'bce_r50_448_{ds}{noise}' in names
            assert f'balancemix_r50_448_{ds}{noise}' in names
    for extra in ('balancemix_r101_448_coco2014',
                  'balancemix_tresnet-l_448_coco2014',
                  'balancemix_tresnet-l_640_coco2014',
                  'balancemix_resnet-small_mosaic-digits_flip40'):
        assert extra in names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p))
def test_config_loads_and_names_registered_types(path):
    cfg = Config.fromfile(path)
    assert MODELS.get(cfg.model.type) is not None
    assert MODELS.get(cfg.model.head.type) is not None
    ds = cfg.train_dataloader.dataset
    assert DATASETS.get(ds.type) is not None
    assert METRICS.get(cfg.val_evaluator.type) is not None
    name = osp.basename(path)
    if name.startswith('balancemix'):
        assert cfg.train_dataloader.batch_sampler.type == 'DualBatchSampler'
        assert cfg.data_preprocessor.type == 'BalanceMixDataPreprocessor'
        # BalanceMixHead or a head built on it (MLDecoderHead)
        assert issubclass(MODELS.get(cfg.model.head.type), BalanceMixHead)
        assert cfg.model.head.loss.type == 'BalanceMixLoss'
        hook = cfg.custom_hooks[0]
        assert HOOKS.get(hook.type) is not None
        eps = 0.55 if 'single-positive' in name else 0.975
        assert hook.get('relabel_threshold', 0.975) == eps
    for noise, (ntype, rate) in {
            '_mislabel20': ('mislabel', 0.2),
            '_mislabel40': ('mislabel', 0.4),
            '_flip20': ('flip', 0.2),
            '_flip40': ('flip', 0.4),
            '_single-positive': ('single_positive', 0.0)
    }.items():
        if noise in name:
            assert ds.type == 'LabelNoiseDataset'
            assert (ds.noise_type, ds.noise_rate) == (ntype, rate)
    # Every config's head agrees with its data preprocessor on K.
    assert cfg.model.head.num_classes == cfg.data_preprocessor.num_classes


def test_demo_pair_differs_only_in_the_method():
    """The README demo compares BalanceMix with plain BCE on the same data,
    pipeline, model and schedule."""
    bmix = Config.fromfile(
        osp.join(ROOT, 'configs', 'balancemix',
                 'balancemix_resnet-small_30e_mosaic-digits_flip40.py'))
    for name in ('bce', 'mixup'):
        base = Config.fromfile(
            osp.join(ROOT, 'configs', 'baseline',
                     f'{name}_resnet-small_30e_mosaic-digits_flip40.py'))
        for key in ('param_scheduler', 'train_cfg', 'optim_wrapper',
                    'randomness', 'val_dataloader', 'val_evaluator'):
            assert bmix[key] == base[key], key
        assert bmix.train_dataloader.dataset == base.train_dataloader.dataset
        assert bmix.train_dataloader.batch_size == \
            base.train_dataloader.batch_size
        assert bmix.model.backbone == base.model.backbone
    ds = bmix.train_dataloader.dataset
    assert (ds.noise_type, ds.noise_rate, bmix.train_cfg.max_epochs) == \
        ('flip', 0.4, 30)
    assert [t['type'] for t in ds.dataset.pipeline] == \
        ['LoadImageFromFile', 'Resize', 'PackInputs']
    assert bmix.custom_hooks[0].warmup_epochs == 8


REGIME = sorted(glob.glob(osp.join(ROOT, 'benchmarks', 'regime', '*.py')))


@pytest.mark.parametrize('path', REGIME, ids=lambda p: osp.basename(p))
def test_regime_configs_drop_randaugment_only(path):
    """benchmarks/regime/: the configs behind demo_regime.md load, have no
    RandAugment and keep the schedule their name says."""
    cfg = Config.fromfile(path)
    ds = cfg.train_dataloader.dataset
    pipeline = ds.dataset.pipeline if ds.type == 'LabelNoiseDataset' \
        else ds.pipeline
    assert 'RandAugment' not in [t['type'] for t in pipeline]
    epochs = 30 if path.endswith('_30e.py') else 12
    assert cfg.train_cfg.max_epochs == cfg.param_scheduler.T_max == epochs
