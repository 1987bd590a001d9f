# Sourced by benches/sync/run.sh and benches/load/run.sh, from the repository's root: what
# both do before their bench starts servers as child processes.

# Every connection takes a descriptor in the bench and in each server (children inherit the
# limit): raise the soft open-file limit to the hard one.
raise_open_files() {
    local hard
    hard="$(ulimit -Hn)"
    if [ "$hard" = unlimited ]; then hard=1048576; fi
    ulimit -n "$hard" 2>/dev/null || echo "run.sh: cannot raise the open-file limit to $hard" >&2
}

# Builds dx-reference in the root workspace, in release, and sets $reference to its path.
build_reference() {
    cargo build --release -p dx-server --bin dx-reference
    local target="${CARGO_TARGET_DIR:-target}"
    case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
    reference="$target/release/dx-reference"
}
