#!/usr/bin/env bash
# The CUDA-path check of mmbmix, prepared for a session lent a GPU machine:
# one call of a few minutes. Writes its logs and JSON under $OUT (or
# ./gpu_check_out). Usage: bash benchmarks/gpu_check.sh
set -u
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
pip install -q -e ".[lite,tests]" > "$OUT/install.log" 2>&1 || true
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python - > "$OUT/env.txt" 2>&1 <<'PY'
import torch, mmbmix
print(torch.__version__, torch.cuda.is_available(), torch.cuda.get_device_name())
PY
# 1. BalanceMix demo on CUDA with AMP, 2 epochs.
timeout 300 python tools/train.py \
    configs/balancemix/balancemix_resnet-small_mosaic-digits_flip40.py \
    --amp --work-dir "$OUT/amp" \
    --cfg-options train_cfg.max_epochs=2 train_cfg.val_interval=2 \
    > "$OUT/amp.log" 2>&1; echo "amp rc=$?" >> "$OUT/summary.txt"
# 2. DDP with NCCL through torchrun (1 process per GPU present).
NGPU=$(python -c 'import torch; print(torch.cuda.device_count())')
timeout 300 bash tools/dist_train.sh \
    configs/balancemix/balancemix_resnet-small_mosaic-digits_flip40.py "$NGPU" \
    --work-dir "$OUT/ddp" --cfg-options train_cfg.max_epochs=2 \
    > "$OUT/ddp.log" 2>&1; echo "ddp nccl rc=$?" >> "$OUT/summary.txt"
# 3. Mixture fit on the GPU, and the throughput ratio at ResNet-50 448 px.
timeout 200 python benchmarks/gmm.py --device cuda --repeats 5 \
    > "$OUT/gmm_cuda.log" 2>&1; echo "gmm rc=$?" >> "$OUT/summary.txt"
cp benchmarks/results/gmm.json "$OUT/gmm_cuda.json" 2>/dev/null
timeout 400 python benchmarks/throughput.py --gpu --repeats 5 \
    --num-images 1024 --workers 8 > "$OUT/throughput_gpu.log" 2>&1
echo "throughput rc=$?" >> "$OUT/summary.txt"
cp benchmarks/results/throughput_gpu.json "$OUT/" 2>/dev/null
cat "$OUT/summary.txt"
