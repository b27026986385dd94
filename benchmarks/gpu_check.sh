#!/usr/bin/env bash
# The CUDA-path check of mmbmix, prepared for a session lent a GPU machine:
# one call of about 6 minutes. Writes its logs and JSON under $OUT (or
# ./gpu_check_out). Usage: bash benchmarks/gpu_check.sh
# On a machine without the OpenMMLab packages (the lent GPU machines have no
# package index), first run `bash benchmarks/gpu_wheels.sh` here: it puts
# their wheels in .whl/, which the device call carries (carry: [".whl"]) and
# this script installs to /tmp/site.
set -u
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
# Work dirs stay out of $OUT: at most 8 files come back from a device call
# (here: summary.txt and the logs and JSON of the four steps).
WORK=$(mktemp -d)
if ! python3 -c 'import mmpretrain' 2>/dev/null; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        python3 -m pip install -q --no-index --no-deps --no-compile \
            --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
            > "$WORK/install.log" 2>&1
        export PYTHONPATH=/tmp/site
    else
        pip install -q -e ".[lite,tests]" > "$WORK/install.log" 2>&1
    fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi > "$OUT/summary.txt" 2>&1
python3 - > "$WORK/env.txt" 2>&1 <<'PY'
import torch, mmengine, mmpretrain, mmbmix
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(), 'mmengine', mmengine.__version__,
      'mmpretrain', mmpretrain.__version__)
PY
tee -a "$OUT/summary.txt" < "$WORK/env.txt"
grep -q '^torch' "$WORK/env.txt" || exit 1
step() {  # step NAME TIMEOUT COMMAND...
    local name=$1 t=$2; shift 2
    local t0=$(date +%s)
    timeout "$t" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name rc=$rc $(( $(date +%s) - t0 ))s" | tee -a "$OUT/summary.txt"
    tail -n 3 "$OUT/$name.log"
}
CFG=configs/balancemix/balancemix_resnet-small_1xb32_mosaic-digits-32px_flip40.py
# 1. BalanceMix demo on CUDA with AMP, 4 epochs (warm-up 3, so epoch 4 runs
#    the label manager on the GPU).
step amp 120 python3 tools/train.py "$CFG" --amp --work-dir "$WORK/amp" \
    --cfg-options train_cfg.max_epochs=4 train_cfg.val_interval=4
# 2. DDP with NCCL through torchrun (one process per GPU present).
NGPU=$(python3 -c 'import torch; print(torch.cuda.device_count())')
step ddp 120 bash tools/dist_train.sh "$CFG" "$NGPU" --work-dir "$WORK/ddp" \
    --cfg-options train_cfg.max_epochs=4 train_cfg.val_interval=4
grep -h "nccl\|backend\|Distributed" "$OUT/ddp.log" | head -3
# 3. Mixture fit on the GPU (the same code as on the CPU).
step gmm_cuda 90 python3 benchmarks/gmm.py --device cuda --repeats 5 \
    --sklearn-repeats 1 --out "$OUT/gmm_cuda.json"
# 4. Throughput ratio at ResNet-50, 448 px, AMP.
step throughput_gpu 330 python3 benchmarks/throughput.py --gpu --repeats 5 \
    --num-images 1024 --workers 8
cp benchmarks/results/throughput_gpu.json "$OUT/" 2>/dev/null
grep "^|" "$OUT/throughput_gpu.log"
cat "$OUT/summary.txt"
