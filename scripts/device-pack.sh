#!/usr/bin/env bash
# Packs the project for a GPU run (see docs/gpu.md): ../shared/device/pack.sh, then re-packs
# node_modules without the TypeScript compiler's native binary and the type packages, which the
# GPU machine does not need (it runs the built dist/), to stay well under the 64 MiB per call.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
npm run build >/dev/null
bash "${SPECSTREAM_PACK:-../shared/device/pack.sh}"
tar --exclude='node_modules/onnxruntime-node/bin/napi-v6/win32' \
    --exclude='node_modules/onnxruntime-node/bin/napi-v6/darwin' \
    --exclude='node_modules/onnxruntime-node/bin/napi-v6/linux/arm64' \
    --exclude='node_modules/onnxruntime-web' \
    --exclude='node_modules/.cache' \
    --exclude='node_modules/@typescript' \
    --exclude='node_modules/typescript' \
    --exclude='node_modules/@types' \
    -cf - node_modules dist | xz -T2 -6 > .device/modules.tar.xz
du -sh .device | awk '{print "device-pack: .device is " $1}'
