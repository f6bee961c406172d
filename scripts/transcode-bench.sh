#!/usr/bin/env bash
# transcode against glibc's iconv(1) on the same files: MB/s of each, best of
# 3 runs, interleaved (Benchmarks/README.md). Usage: bash scripts/transcode-bench.sh [MB]
set -euo pipefail
cd "$(dirname "$0")/.."
megabytes=${1:-48}
swift build -c release --product transcode >/dev/null
tool=.build/release/transcode
work=$(mktemp -d /tmp/transcode-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Text: lines of French and German (Latin-9 has every character) and of
# Japanese (JIS X 0208 has every character), repeated to the size asked.
latin="Le cœur a ses raisons que la raison ne connaît point; über Größe und Maß, 10 € pour l'été."
japanese="日本語の文章を変換する。東京都、大阪府、ひらがな、カタカナ、漢字、ABC 123。"
for name in latin japanese; do
    line=${!name}
    block=$(for i in $(seq 1 64); do printf '%s %s\n' "$i" "$line"; done)
    yes "$block" | head -c $((megabytes * 1000000)) | head -n -1 > "$work/$name.utf8" || true
done
iconv -f UTF-8 -t UTF-16 "$work/latin.utf8" > "$work/latin.utf16"
iconv -f UTF-8 -t EUC-JP "$work/japanese.utf8" > "$work/japanese.eucjp"

seconds() { local start end; start=$(date +%s.%N); "$@" > /dev/null; end=$(date +%s.%N); awk "BEGIN { print $end - $start }"; }
printf '| conversion | input MB | iconv(1) MB/s | transcode MB/s | ratio |\n|---|---:|---:|---:|---:|\n'
while read -r from to file extra; do
    size=$(stat -c %s "$work/$file")
    best_iconv=1e9 best_transcode=1e9
    for run in 1 2 3; do
        t=$(seconds iconv $extra -f "$from" -t "$to" "$work/$file")
        best_iconv=$(awk "BEGIN { print ($t < $best_iconv) ? $t : $best_iconv }")
        t=$(seconds "$tool" $extra -f "$from" -t "$to" "$work/$file")
        best_transcode=$(awk "BEGIN { print ($t < $best_transcode) ? $t : $best_transcode }")
    done
    # The outputs must be the same, byte for byte.
    cmp -s <(iconv $extra -f "$from" -t "$to" "$work/$file") <("$tool" $extra -f "$from" -t "$to" "$work/$file") \
        || echo "DIFFERENT OUTPUT: $from -> $to $extra" >&2
    awk -v c="$from -> $to $extra" -v s="$size" -v i="$best_iconv" -v t="$best_transcode" \
        'BEGIN { printf "| %s | %.1f | %.0f | %.0f | %.2fx |\n", c, s / 1e6, s / 1e6 / i, s / 1e6 / t, i / t }'
done <<'LIST'
UTF-8 UTF-16 latin.utf8
UTF-8 ISO-8859-15 latin.utf8
UTF-16 UTF-8 latin.utf16
EUC-JP UTF-8 japanese.eucjp
UTF-8 SHIFT_JIS japanese.utf8
UTF-8 ISO-2022-JP japanese.utf8
UTF-8 ISO-2022-JP japanese.utf8 -c
LIST
