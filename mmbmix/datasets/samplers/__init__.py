from .dual_batch_sampler import DualBatchSampler

__all__ = ['DualBatchSampler']
