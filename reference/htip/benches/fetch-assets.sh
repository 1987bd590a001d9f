#!/usr/bin/env bash
# Fetches the real-world version pairs the `patch_size` bench diffs, with `npm pack` from the
# npm registry, into target/bench-assets/ (idempotent: what is already there is skipped).
#
#   three@0.151.0, three@0.152.0         package/build/three.module.js
#   react-dom@18.2.0, react-dom@18.3.1   package/umd/react-dom.production.min.js
#
# Licences: three is MIT (Copyright 2010-2023 three.js authors); react-dom is MIT
# (Copyright Facebook, Inc. and its affiliates / Meta Platforms, Inc.). The files are only
# downloaded into target/ for measuring and are never committed or redistributed.
#
# Run from anywhere: reference/htip/benches/fetch-assets.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
dest="${CARGO_TARGET_DIR:-$root/target}/bench-assets"
mkdir -p "$dest"

# name version path-in-tarball output-name
assets=(
    "three 0.151.0 package/build/three.module.js three-0.151.0.module.js"
    "three 0.152.0 package/build/three.module.js three-0.152.0.module.js"
    "react-dom 18.2.0 package/umd/react-dom.production.min.js react-dom-18.2.0.production.min.js"
    "react-dom 18.3.1 package/umd/react-dom.production.min.js react-dom-18.3.1.production.min.js"
)

command -v npm >/dev/null || { echo "npm is not installed (apt-get install npm)" >&2; exit 1; }

for asset in "${assets[@]}"; do
    read -r name version inner out <<<"$asset"
    if [[ -s "$dest/$out" ]]; then
        echo "have    $out ($(wc -c <"$dest/$out") bytes)"
        continue
    fi
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    tarball="$(cd "$work" && npm pack --silent "$name@$version" | tail -n 1)"
    tar -xzf "$work/$tarball" -C "$work" "$inner"
    mv "$work/$inner" "$dest/$out.tmp"
    mv "$dest/$out.tmp" "$dest/$out"
    rm -rf "$work"
    trap - EXIT
    echo "fetched $name@$version $inner -> $out ($(wc -c <"$dest/$out") bytes)"
done
