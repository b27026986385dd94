"""The default label management is the paper's Algorithm 1 (arXiv
2312.07087, Appendix A, line 13): each batch's labels are decided before its
step, under the model of that step, from two distinct views of each
instance, and the decision rides in the batch's samples."""

import pytest
import torch
from _bmix_config import small_bmix_config
from mmengine.runner import Runner

import mmbmix  # noqa: F401  (registers the components)
from mmbmix.engine.confidence import predict
from mmbmix.engine.hooks import LabelManagerHook
from mmbmix.models.utils import LabelManager
from mmbmix.utils import split_views


@pytest.mark.timeout(300)
def _stack(view):
    """A collated view as one tensor (pseudo_collate gives a tuple)."""
    return view if isinstance(view, torch.Tensor) else torch.stack(list(view))


def test_default_decides_each_batch_under_its_steps_model_and_two_views(
        tmp_path, monkeypatch):
    records, confs = [], []
    manage, step = LabelManagerHook._manage_batch, LabelManager.step

    def manage_spy(self, model, data_batch, idx):
        views = split_views(data_batch['inputs'])
        samples = data_batch['data_samples']
        was = model.training
        model.eval()
        with torch.no_grad():  # the current model on each view
            ref = [
                predict(model, dict(inputs=v, data_samples=samples))[1]
                for v in views
            ]
        model.train(was)
        weight = next(model.parameters()).detach().clone()
        out = manage(self, model, data_batch, idx)
        records.append(
            dict(
                views=views,
                ref=ref,
                weight=weight,
                managing=self.manager.managing,
                out=out,
                inputs=data_batch['inputs']))
        return out

    before_iter = LabelManagerHook.before_train_iter

    def before_iter_spy(self, runner, batch_idx, data_batch=None):
        before_iter(self, runner, batch_idx, data_batch)
        # what rides in the samples to the data preprocessor
        records[-1]['carried'] = [(s.get('gt_score'), s.get('label_weight'))
                                  for s in data_batch['data_samples']]

    def step_spy(self, idx, conf, num_random):
        confs.append(conf.clone())
        return step(self, idx, conf, num_random)

    monkeypatch.setattr(LabelManagerHook, '_manage_batch', manage_spy)
    monkeypatch.setattr(LabelManager, 'step', step_spy)
    monkeypatch.setattr(LabelManagerHook, 'before_train_iter', before_iter_spy)
    cfg = small_bmix_config(
        tmp_path,
        tmp_path / 'data',
        max_epochs=2,
        warmup=1,
        num_images=96,
        dump_state=False,
        stats_source=None)
    assert 'stats_source' not in cfg.default_hooks.label_manager
    Runner.from_cfg(cfg).train()
    managed = [r for r in records if r['managing']]
    assert len(managed) == 3 and len(records) == 6  # 96 / 32 per epoch
    for r, conf in zip(records, confs):
        assert len(r['views']) == 2
        # two independently augmented views, the first one trained on
        assert not torch.equal(_stack(r['views'][0]), _stack(r['views'][1]))
        assert r['inputs'] is r['views'][0]
        if not r['managing']:  # warm-up: the random half's first view
            torch.testing.assert_close(conf, r['ref'][0][:len(conf)])
            assert r['out'] == (None, None)
            assert all(w is None for _, w in r['carried'])
            continue
        # Eq. 9's mean over the two views under the model of this step
        torch.testing.assert_close(conf, (r['ref'][0] + r['ref'][1]) / 2)
        targets, weights = r['out']
        assert len(r['carried']) == len(targets) == 64  # both halves
        for (score, weight), t, w in zip(r['carried'], targets, weights):
            assert torch.equal(score, t.float())
            assert torch.equal(weight, w.float())
    # the model moves from step to step inside the managed epoch: each
    # decision comes from the model of its own step
    for a, b in zip(managed, managed[1:]):
        assert not torch.equal(a['weight'], b['weight'])
