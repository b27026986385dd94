"""Batch-norm statistics of unmixed images before each validation.

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmpretrain.engine.hooks import PreciseBNHook
from mmpretrain.engine.hooks.precise_bn_hook import update_bn_stats
from mmpretrain.registry import HOOKS
from torch.utils.data import DataLoader


@HOOKS.register_module()
class UnmixedBNHook(PreciseBNHook):
    """mmpretrain's ``PreciseBNHook`` on the training images as the model is
    evaluated: unmixed, through the test pipeline.

    BalanceMix trains on mixed images (Eq. 5), so the running statistics of
    the batch-norm layers describe mixtures, while the model is validated,
    tested and saved for use on single images. After every ``interval``
    training epochs (and after the last) this recomputes them, with
    mmpretrain's ``update_bn_stats``, on ``num_samples`` training images
    loaded with the test pipeline (``test_pipeline``, else the validation
    dataset's), in shuffled batches of the training batch size; the weights
    are left as they are. Its priority puts it before validation and before
    ``CheckpointHook``, so checkpoints carry the recomputed statistics.

    Args:
        num_samples (int): training images per recomputation. Defaults to
            8192 (``PreciseBNHook``'s); at most the training set.
        interval (int): every ``interval`` epochs. Defaults to 1.
    """

    priority = 'ABOVE_NORMAL'

    def before_train(self, runner) -> None:
        from mmbmix.apis import build_train_set, test_pipeline_of
        cfg = runner.cfg
        dataset = build_train_set(cfg, test_pipeline_of(cfg))
        self._sampler = DefaultSampler(dataset, shuffle=True, seed=runner.seed)
        self.loader = DataLoader(
            dataset,
            batch_size=cfg.train_dataloader.get('batch_size', 32),
            sampler=self._sampler,
            num_workers=cfg.train_dataloader.get('num_workers', 0),
            collate_fn=pseudo_collate)

    def _perform_precise_bn(self, runner) -> None:
        self._sampler.set_epoch(runner.epoch)  # no_grad: update_bn_stats'
        update_bn_stats(runner.model, self.loader, self.num_samples,
                        runner.logger)

    def after_train_epoch(self, runner) -> None:
        if self.every_n_epochs(runner, self.interval) or \
                self.is_last_train_epoch(runner):
            self._perform_precise_bn(runner)
