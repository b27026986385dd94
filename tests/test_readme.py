"""The README as a new user reads it: its own-config snippet works when
pasted under a multi-label config, and every file it links or runs
exists."""
import os.path as osp
import re

from mmengine.config import Config

import mmbmix  # noqa: F401  (registers the components)
from mmbmix.utils import hook_cfgs

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
README = open(osp.join(ROOT, 'README.md')).read()


def test_readme_is_read_in_two_minutes():
    assert len(README.splitlines()) <= 150


def test_own_config_snippet_works_when_pasted(tmp_path):
    section = README.split('## Using BalanceMix in your own config')[1]
    snippet = re.search(r'```python\n(.*?)```', section, re.S).group(1)
    base = osp.join(ROOT, 'configs', 'bce',
                    'bce_efficientnet-lite0_1xb32_mosaic-digits-64px.py')
    (tmp_path /
     'your_multilabel_config.py').write_text(f'_base_ = [{base!r}]\n')
    (tmp_path / 'mine.py').write_text(snippet)
    cfg = Config.fromfile(str(tmp_path / 'mine.py'))
    assert cfg.train_dataloader.batch_sampler.type == 'DualBatchSampler'
    assert cfg.data_preprocessor.type == 'BalanceMixDataPreprocessor'
    assert cfg.data_preprocessor.num_classes == 10  # kept from the base
    assert cfg.model.type == 'ImageClassifier'  # merged, not replaced
    assert cfg.model.head.type == 'BalanceMixHead'
    assert cfg.model.head.loss == dict(type='BalanceMixLoss')
    (hook, ) = hook_cfgs(cfg, 'LabelManagerHook')
    assert hook.warmup_epochs == 10
    assert 'checkpoint' in cfg.default_hooks  # the base's hooks stay


def test_every_linked_or_run_file_exists():
    links = re.findall(r'\]\(((?:configs|docs|benchmarks|tools)/[^)#]+)',
                       README)
    runs = re.findall(r'(?:python|bash) ((?:tools|benchmarks)/\S+\.(?:py|sh))',
                      README)
    configs = re.findall(r'(configs/\w+/[\w.-]+\.py)', README)
    assert len(links) > 10 and runs and configs
    missing = [
        p for p in {*links, *runs, *configs}
        if not osp.exists(osp.join(ROOT, p))
    ]
    assert not missing, missing
