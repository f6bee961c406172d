#!/usr/bin/env bash
# transcode against glibc's iconv(1) for every encoding name `iconv -l` lists
# (aliases included): text each encoding can represent (candidates from many
# scripts that survive a round trip through iconv(1)), converted from UTF-8
# and back at chunk sizes 1 and 4096, compared byte for byte. Takes minutes.
# Usage: bash scripts/transcode-all-encodings.sh [NAME-PATTERN]
set -euo pipefail
cd "$(dirname "$0")/.."
pattern=${1:-.}
swift build -c release --product transcode >/dev/null
tool=$PWD/.build/release/transcode
work=$(mktemp -d /tmp/transcode-all.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 - <<'PY'
import random
random.seed(3)
r = lambda a, b, step=1: list(range(a, b, step))
scalars = r(0x20, 0x7F) + r(0xA0, 0x100) + [0x152, 0x153, 0x160, 0x161, 0x17D, 0x17E, 0x178, 0x192, 0x2C6, 0x2DC]
scalars += r(0x391, 0x3AA) + r(0x3B1, 0x3CA) + r(0x401, 0x450) + r(0x5D0, 0x5EB) + [0x5B0, 0x5B4, 0x5BC, 0x5C1]
scalars += r(0x621, 0x64B) + r(0xE01, 0xE3A) + r(0xB85, 0xB95) + [0xBCD, 0xBBE]
scalars += r(0x2010, 0x2027) + [0x20AC, 0x2122, 0x2116] + r(0x2500, 0x2570, 3)
scalars += r(0x3000, 0x3016) + r(0x3041, 0x3094) + r(0x30A1, 0x30F7)
scalars += [random.randint(0x4E00, 0x9FA5) for _ in range(300)] + [random.randint(0xAC00, 0xD7A3) for _ in range(100)]
scalars += r(0xFF61, 0xFFA0, 3) + [0x301, 0x300, 0x309A, 0x1F600, 0x20000, 0xE3F, 0x1EA0, 0x1EA1, 0x1EDD]
text = "".join(chr(v) + ("\n" if i % 13 == 12 else "") for i, v in enumerate(scalars)) + "\n"
open("candidates.txt", "w").write(text)
PY
matched=0 differed=0 skipped=0
for name in $(iconv -l | tr ',' '\n' | sed 's|//||g; s/ //g' | grep -v '^$' | grep -E -- "$pattern" | sort -u); do
    # The text this encoding represents, as iconv(1) converts it.
    iconv -c -f UTF-8 -t "$name" candidates.txt > kept.bin 2>/dev/null || true
    if ! iconv -f "$name" -t UTF-8 kept.bin > text.utf8 2>/dev/null \
        || ! iconv -f UTF-8 -t "$name" text.utf8 > expected.bin 2>/dev/null \
        || ! iconv -f "$name" -t UTF-8 expected.bin > back.utf8 2>/dev/null; then
        skipped=$((skipped + 1))
        continue
    fi
    for chunk in 1 4096; do
        if "$tool" -f UTF-8 -t "$name" --chunk $chunk text.utf8 2>/dev/null | cmp -s - expected.bin; then
            matched=$((matched + 1))
        else
            echo "DIFFERENT: UTF-8 -> $name, chunk $chunk"
            differed=$((differed + 1))
        fi
        if "$tool" -f "$name" -t UTF-8 --chunk $chunk expected.bin 2>/dev/null | cmp -s - back.utf8; then
            matched=$((matched + 1))
        else
            echo "DIFFERENT: $name -> UTF-8, chunk $chunk"
            differed=$((differed + 1))
        fi
    done
done
echo "$matched matched, $differed differed, $skipped names skipped (iconv(1) itself cannot round-trip the text)"
[ "$differed" -eq 0 ]
