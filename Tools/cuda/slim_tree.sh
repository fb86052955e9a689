#!/usr/bin/env bash
# The device tool copies every tracked file (~52 MiB: model weights, test fixtures, run contact sheets)
# and the carry limit is 64 MiB for tree + carried paths, too little for cuda-check + the CLI +
# diffusers (~24 MB compressed). `slim_tree.sh on` untracks the large files the GPU runs do not read
# (git rm --cached, listed in .git/info/exclude) so they stay here; `slim_tree.sh off` restores the index
# and the exclude file. Do not commit while it is on. `slim_tree.sh on keep-default` keeps the default
# model's weights (28.6 MB) tracked for the `heldout` stage: carry then only .device/cuda-check.xz,
# .device/lib and the scripts, run with DEVICE_BINARIES=cuda-check (about 65 MB in all, under 64 MiB).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
state=.git/slim-tree
case ${1:-} in
  on)
    [ -e "$state.list" ] && { echo "already on"; exit 1; }
    default=('Models/default/*.safetensors' 'Models/default/*/*.safetensors')
    [ "${2:-}" = keep-default ] && default=()
    git ls-files "${default[@]}" Tests/ModelsTests/Fixtures/tiny-models \
      Tests/ModelsTests/Fixtures/tokenizer-corpus.json 'Tools/train_default_model/runs/*.png' > "$state.list"
    cp .git/info/exclude "$state.exclude"
    git rm -r -q --cached --pathspec-from-file="$state.list"
    sed 's#^#/#' "$state.list" >> .git/info/exclude
    echo "untracked $(wc -l < "$state.list") files; tracked now: $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) bytes" ;;
  off)
    [ -e "$state.list" ] || { echo "not on"; exit 1; }
    git reset -q -- $(cat "$state.list")
    cp "$state.exclude" .git/info/exclude
    rm "$state.list" "$state.exclude"
    echo "restored" ;;
  *) echo "usage: slim_tree.sh on [keep-default] | off"; exit 2 ;;
esac
