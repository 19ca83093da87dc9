# Sourced by the stories260K examples: where the repository, the shared real data and the
# output folder are, and a `saekit` function. $1 (optional) is the output folder.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd)
shared=${SHARED:-$here/../shared}
model=$shared/models/stories260K/stories260K.bin
corpus=$shared/corpus/tinyshakespeare.txt
[ -f "$model" ] || { echo "needs $model (the shared real-model folder)"; exit 1; }
saekit() { node "$here/bin/saekit.js" "$@"; }
