# Sourced first by every Tools/cuda/device_*.sh on the GPU machine: unpacks the staged executables
# (.device/NAME.xz -> /tmp/bin/NAME; DEVICE_BINARIES, default "majicflux cuda-check"; MAJICFLUX_XZ
# overrides majicflux's file) and diffusers' wheels (.device/site.tar.xz -> /tmp/site, when staged),
# sets OUT, PYTHONPATH, and records the GPU in $OUT/gpu.txt.
OUT=${OUT:-/tmp/out}
# Shared libraries the GPU machine may lack (libjpeg-turbo for input pictures), staged in .device/lib.
[ -d .device/lib ] && export LD_LIBRARY_PATH="$PWD/.device/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$OUT" /tmp/bin /tmp/site
for p in ${DEVICE_BINARIES:-majicflux cuda-check}; do
  src=".device/$p.xz"; [ "$p" = majicflux ] && src=${MAJICFLUX_XZ:-$src}
  xz -dc "$src" > "/tmp/bin/$p" && chmod +x "/tmp/bin/$p"
done
if [ -e .device/site.tar.xz ] && [ ! -d /tmp/site/diffusers ]; then tar -xJf .device/site.tar.xz -C /tmp/site; fi
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

# Keeps the highest nvidia-smi memory.used (MiB) seen in file $1, polling every 0.2 s (run it with &).
poll_peak() {
  local m=0 v; while true; do v=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1); [ "$v" -gt "$m" ] && m=$v && echo "$m" > "$1"; sleep 0.2; done
}
