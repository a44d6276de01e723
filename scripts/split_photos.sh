#!/usr/bin/env bash
# The training / validation split the shipped models and Table I were trained on: every 25th photo
# (by name: the 25th, 50th, ..., 1000th) of the ImageNet sample held out for validation, the rest
# for training. Makes two folders of symbolic links; the photos themselves are not copied.
#   bash scripts/split_photos.sh ../shared/data/photos/imagenet1k imagenet1k-train imagenet1k-val
set -euo pipefail
src=${1:?folder of photos}
train=${2:-imagenet1k-train}
val=${3:-imagenet1k-val}
src=$(cd "$src" && pwd)
for d in "$train" "$val"; do
  if [ -e "$d" ] && [ -n "$(ls -A "$d")" ]; then
    echo "split_photos.sh: $d exists and is not empty; remove it or name another folder" >&2
    exit 1
  fi
  mkdir -p "$d"
done
n=0
while IFS= read -r name; do
  n=$((n + 1))
  if [ $((n % 25)) -eq 0 ]; then dest=$val; else dest=$train; fi
  ln -s "$src/$name" "$dest/$name"
done < <(LC_ALL=C ls "$src")
echo "$train: $(ls "$train" | wc -l) photos, $val: $(ls "$val" | wc -l) photos"
