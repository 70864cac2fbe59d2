#!/usr/bin/env bash
# Held-out recall, distractor false matches and cost of the PDQ variants
# (internal/variant), on two sets of photos the tests never see:
#   tune:   the wallpapers of Debian's mate-backgrounds, ukui-wallpapers,
#           gnome-backgrounds, plasma-workspace-wallpapers, sway-backgrounds
#           and lomiri-wallpapers (the set the detectors were tuned on);
#   report: lomiri-wallpapers-16.04 and lomiri-wallpapers-20.04 (photos
#           looked at only to report, never to tune).
# Distractors: tuxpaint-stamps-default and openclipart-png, with the photos.
# Fetched with apt-get download into a cache; needs ImageMagick and the
# Noto fonts (scripts/setup).
# Usage: bench/variants/run.sh [tune|report] [PHOTOS] [DISTRACTORS]
#        (defaults: tune, 80, 1000)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
set_=${1:-tune}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/nigehban-corpus
pkgs=(mate-backgrounds ukui-wallpapers gnome-backgrounds plasma-workspace-wallpapers sway-backgrounds
  lomiri-wallpapers tuxpaint-stamps-default openclipart-png)
report=(lomiri-wallpapers-16.04 lomiri-wallpapers-20.04)
if [[ ! -d "$cache/x/usr/share/tuxpaint" ]]; then
  mkdir -p "$cache/debs" "$cache/x"
  (cd "$cache/debs" && apt-get download "${pkgs[@]}" >/dev/null)
  for d in "$cache"/debs/*.deb; do dpkg -x "$d" "$cache/x"; done
fi
# The report set unpacks apart: its packages install into the same folders.
if [[ ! -d "$cache/report/usr/share/backgrounds" ]]; then
  mkdir -p "$cache/report-debs" "$cache/report"
  (cd "$cache/report-debs" && apt-get download "${report[@]}" >/dev/null)
  for d in "$cache"/report-debs/*.deb; do dpkg -x "$d" "$cache/report"; done
fi
s="$cache/x/usr/share"
photos="$s/backgrounds,$s/wallpapers"
if [[ $set_ == report ]]; then
  photos="$cache/report/usr/share/backgrounds"
fi
exec go run ./bench/variants -n "${2:-80}" -d "${3:-1000}" -photos "$photos" \
  -distractors "$s/tuxpaint/stamps,$s/openclipart"
