"""Distributed set-up for the tools on machines with and without CUDA.

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
import datetime
import gc

import torch
import torch.distributed as torch_dist
from mmengine.config import ConfigDict
from mmengine.registry import MODEL_WRAPPERS


def setup_cpu_distributed(cfg):
    """Make ``--launcher pytorch`` work without CUDA (gloo on CPU).

    mmengine 0.10.7's ``_init_dist_pytorch`` calls ``torch.cuda.set_device``
    unconditionally, which raises on a machine without a GPU, and its default
    DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which DDP rejects for a CPU
    module. The Runner skips ``init_dist`` when a process group already
    exists, so we create the gloo group here from torchrun's environment
    (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) rather than patching
    mmengine, and wrap the model in DDP without ``device_ids``.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise SystemExit(
            f'--launcher {cfg.launcher} needs CUDA; on a CPU-only '
            'machine use --launcher pytorch (tools/dist_*.sh)')
    if cfg.get('env_cfg', None) is None:
        cfg.env_cfg = ConfigDict()
    dist_cfg = ConfigDict(cfg.env_cfg.get('dist_cfg', None) or {})
    dist_cfg.backend = 'gloo'
    cfg.env_cfg.dist_cfg = dist_cfg
    if not torch_dist.is_initialized():
        timeout = dist_cfg.get('timeout', None)
        torch_dist.init_process_group(
            backend='gloo',
            timeout=None if timeout is None else datetime.timedelta(
                seconds=timeout))

    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    elif issubclass(
            MODEL_WRAPPERS.get(
                wrapper.get('type', 'MMDistributedDataParallel')),
            torch.nn.parallel.DistributedDataParallel):
        wrapper.setdefault('device_ids', None)


def destroy_distributed():
    """Free the process group before the interpreter exits.

    A gloo worker thread drops the last collective's tensors after the call
    returns, which needs the GIL; if Python is already finalizing, the rank
    aborts ("terminate called without an active exception", about one run
    in four with torch 2.14 on CPU). Collecting the runner (its DDP wrapper
    holds the group) and then destroying the group joins those threads first.
    """
    if torch_dist.is_initialized():
        gc.collect()
        torch_dist.destroy_process_group()


def broadcast_tensor(value: torch.Tensor) -> torch.Tensor:
    """Rank 0's copy of a tensor, bit for bit (bool tensors travel as
    uint8); the tensor itself on a single process."""
    from mmengine.dist import broadcast, get_dist_info
    if get_dist_info()[1] == 1:
        return value
    buf = value.clone().view(torch.uint8) \
        if value.dtype == torch.bool else value.clone()
    broadcast(buf, src=0)
    return buf.view(value.dtype)
