"""Shared set-up of the test suite: the helper modules beside the tests
(``_bmix_config``, ``_tiny_config``, ``_state_dump_hook``, ``_oracle_hook``)
import by name from every test file."""
import os
import os.path as osp
import sys

TESTS = osp.dirname(osp.abspath(__file__))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

if os.environ.get('PYTEST_XDIST_WORKER'):
    # one thread per worker: -n 2 on 2 cores without oversubscription
    import torch
    torch.set_num_threads(1)
