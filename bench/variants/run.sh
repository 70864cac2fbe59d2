#!/usr/bin/env bash
# Held-out recall and distractor false matches of the PDQ variants
# (internal/variant). Photos: the wallpapers of Debian's mate-backgrounds,
# ukui-wallpapers, gnome-backgrounds, plasma-workspace-wallpapers,
# sway-backgrounds and lomiri-wallpapers (never seen by the tests);
# distractors: tuxpaint-stamps-default and openclipart-png, with the photos.
# Fetched with apt-get download into a cache; needs ImageMagick and the
# Noto fonts (scripts/setup).
# Usage: bench/variants/run.sh [PHOTOS] [DISTRACTORS]   (defaults 80, 1000)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/nigehban-corpus
pkgs=(mate-backgrounds ukui-wallpapers gnome-backgrounds plasma-workspace-wallpapers sway-backgrounds
  lomiri-wallpapers tuxpaint-stamps-default openclipart-png)
if [[ ! -d "$cache/x/usr/share/tuxpaint" ]]; then
  mkdir -p "$cache/debs" "$cache/x"
  (cd "$cache/debs" && apt-get download "${pkgs[@]}" >/dev/null)
  for d in "$cache"/debs/*.deb; do dpkg -x "$d" "$cache/x"; done
fi
s="$cache/x/usr/share"
exec go run ./bench/variants -n "${1:-80}" -d "${2:-1000}" \
  -photos "$s/backgrounds,$s/wallpapers" \
  -distractors "$s/tuxpaint/stamps,$s/openclipart"
