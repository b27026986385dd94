"""Minority-augmented Mixup (BalanceMix, Song et al., AAAI 2024, Eq. 5)."""
import torch
from mmpretrain.registry import MODELS
from torch.distributions import Beta

from mmbmix.utils import split_dual_batch


@MODELS.register_module()
class MinorityMixup:
    """Mix each random instance with its minority partner (Eq. 5).

    The batch holds the random half followed by the minority half (as the
    :class:`~mmbmix.datasets.DualBatchSampler` yields it). Pair ``i`` gets

    ``x = lam x_R + (1 - lam) x_M``, ``y = lam y_R + (1 - lam) y_M``,

    with ``lam = max(lam', 1 - lam')``, ``lam' ~ Beta(alpha, alpha)`` drawn
    per pair, so the random instance always dominates (``lam >= 0.5``).

    It halves the batch, so it is registered in ``MODELS``, not in
    mmpretrain's ``BATCH_AUGMENTS`` (whose augments keep the batch size);
    :class:`BalanceMixDataPreprocessor` builds it.

    Args:
        alpha (float): parameter of the Beta distribution. Defaults to 4.0
            (the paper's value).
    """

    def __init__(self, alpha: float = 4.0) -> None:
        alpha = float(alpha)
        if not alpha > 0:
            raise ValueError(f'MinorityMixup: alpha must be > 0, got {alpha}')
        self.alpha = alpha

    def sample_lambda(self, num: int, device=None) -> torch.Tensor:
        """``(num,)`` mixing ratios ``max(lam', 1 - lam')``."""
        a = torch.tensor(self.alpha)
        lam = Beta(a, a).sample((num, ))
        return torch.maximum(lam, 1 - lam).to(device)

    def mean_lambda(self) -> float:
        """``E[lam]``, the random instance's expected share of a mixed
        target (0.75 at ``alpha=1``; about 0.64 at the paper's 4)."""
        from scipy.stats import beta
        return float(
            beta(self.alpha, self.alpha).expect(lambda x: max(x, 1 - x)))

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor):
        """Mix the two halves of a batch.

        Args:
            inputs (Tensor): ``(2B, ...)`` random half then minority half.
            targets (Tensor): ``(2B, K)`` (refined) labels of both halves.

        Returns:
            tuple[Tensor, Tensor, Tensor]: mixed inputs ``(B, ...)``, mixed
            targets ``(B, K)`` and ``lam`` ``(B,)``.
        """
        if inputs.size(0) != targets.size(0):
            raise ValueError(f'MinorityMixup: {inputs.size(0)} inputs but '
                             f'{targets.size(0)} targets')
        (x_r, x_m), (y_r, y_m) = map(split_dual_batch, (inputs, targets))
        lam = self.sample_lambda(x_r.size(0), inputs.device)
        lam_x = lam.view(-1, *([1] * (inputs.dim() - 1))).to(inputs.dtype)
        mixed = lam_x * x_r + (1 - lam_x) * x_m
        lam_y = lam.view(-1, 1).to(targets.dtype)
        mixed_targets = lam_y * y_r + (1 - lam_y) * y_m
        return mixed, mixed_targets, lam
