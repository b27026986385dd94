"""The label state reaches the very instances it was computed for (issue
"Faithful BalanceMix", defect 7): through the real loader (shuffling, two
workers, LabelNoiseDataset, DualBatchSampler, two ranks), the data
preprocessor's targets and weights are those of each sample's own row, the
minority half is mixed as Eq. 5 says, and the loss under weights 1 is BCE's.
"""

import pytest
import torch
from _bmix_config import small_bmix_config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.models.heads import MultiLabelLinearClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmbmix.datasets.utils import get_label_matrix
from mmbmix.engine.hooks import LabelManagerHook
from mmbmix.models import BalanceMixHead
from mmbmix.models.utils import MinorityMixup
from mmbmix.utils import split_dual_batch


@MODELS.register_module()
class _RecordingMixup(MinorityMixup):
    """MinorityMixup that keeps the last lam it drew."""

    def sample_lambda(self, num, device=None):
        self.last_lam = super().sample_lambda(num, device)
        return self.last_lam


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp('mosaic_align')


def _loader(cfg, rank, world, monkeypatch):
    """The training loader exactly as the Runner builds it, for one rank."""
    import mmengine.dataset.sampler as sampler_mod

    import mmbmix.datasets.samplers.dual_batch_sampler as dual_mod
    monkeypatch.setattr(sampler_mod, 'get_dist_info', lambda: (rank, world))
    monkeypatch.setattr(dual_mod, 'get_dist_info', lambda: (rank, world))
    loader_cfg = cfg.train_dataloader.copy()
    loader_cfg.update(num_workers=2, persistent_workers=False)
    return Runner.build_dataloader(loader_cfg, seed=0)


def _encoded_state(n, k):
    """Targets and weights that name their row: row i's weights are
    (i + 1) / (n + 1) in every class, and its targets the bits of i."""
    bits = (torch.arange(n).unsqueeze(1) >> torch.arange(k)) & 1
    weights = ((torch.arange(n) + 1.0) / (n + 1)).unsqueeze(1).repeat(1, k)
    return bits.bool(), weights.half()


@pytest.mark.timeout(300)
def test_state_reaches_its_instances_through_the_real_loader(
        tmp_path, data_root, monkeypatch):
    init_default_scope('mmpretrain')
    cfg = small_bmix_config(
        tmp_path, data_root, num_images=150, dump_state=False)
    cfg.model.data_preprocessor = None
    pre_cfg = dict(
        cfg.data_preprocessor,
        type='BalanceMixDataPreprocessor',
        mix=dict(type='_RecordingMixup', alpha=4.0))
    pre = MODELS.build(pre_cfg)
    seen = []
    for rank in (0, 1):
        loader = _loader(cfg, rank, 2, monkeypatch)
        dataset = loader.dataset
        given = get_label_matrix(dataset)
        n, k = given.shape
        targets, weights = _encoded_state(n, k)
        # the hook of the per-epoch managers writes each sample's row of
        # the state into the sample (the one road to the preprocessor)
        hook = LabelManagerHook(stats_source='audit')
        monkeypatch.setattr(hook.manager, 'training_targets', lambda idx:
                            (targets[idx], weights[idx]))
        loader.batch_sampler.set_epoch(1)
        for batch in loader:
            random_half, minority_half = split_dual_batch(
                batch['data_samples'])
            idx = torch.tensor([s.sample_idx for s in batch['data_samples']])
            # the dataset's own (noisy) label of each image is its row of
            # the label matrix the manager works on
            onehot = torch.zeros(len(idx), k, dtype=torch.bool)
            for i, s in enumerate(batch['data_samples']):
                onehot[i, s.gt_label] = True
            assert torch.equal(onehot, given[idx])
            hook.before_train_iter(None, 0, batch)
            out = pre(batch, training=True)
            r, m = split_dual_batch(idx)
            lam = pre.mixer.last_lam.unsqueeze(1)
            expect = lam * targets[r].float() + (1 - lam) * targets[m].float()
            got = torch.stack([s.gt_score for s in out['data_samples']])
            assert torch.allclose(got, expect, atol=1e-6)  # Eq. 5
            w = torch.stack([s.label_weight for s in out['data_samples']])
            assert torch.equal(w, weights[r].float())  # the random instance's
            assert [s.sample_idx for s in out['data_samples']] == r.tolist()
            seen += r.tolist()
    # the two ranks' random halves cover the training set (DefaultSampler
    # pads to equal shards)
    assert set(seen) == set(range(150))


def test_weighted_loss_at_weight_one_is_mmpretrain_bce():
    torch.manual_seed(0)
    feats = (torch.randn(6, 8), )
    target = torch.rand(6, 5)
    samples = [DataSample().set_gt_score(t) for t in target]
    bce = MultiLabelLinearClsHead(5, 8)
    ours = BalanceMixHead(5, 8)
    ours.load_state_dict(bce.state_dict())
    ref = bce.loss(feats, samples)['loss']
    for s in samples:
        s.set_field(torch.ones(5), 'label_weight')
    assert torch.allclose(ours.loss(feats, samples)['loss'], ref)
    # by hand: sum over classes, mean over instances
    logits = bce(feats)
    hand = -(
        target * torch.log(torch.sigmoid(logits)) +
        (1 - target) * torch.log(1 - torch.sigmoid(logits))).sum(1).mean()
    assert torch.allclose(ref, hand, atol=1e-6)
    # weights scale each label's term
    w = torch.rand(6, 5)
    for s, wi in zip(samples, w):
        s.set_field(wi, 'label_weight')
    hand_w = -(
        w *
        (target * torch.log(torch.sigmoid(logits)) +
         (1 - target) * torch.log(1 - torch.sigmoid(logits)))).sum(1).mean()
    assert torch.allclose(ours.loss(feats, samples)['loss'], hand_w, atol=1e-6)
