//! `dx-conformance completions SHELL`: the completion script for bash, zsh, fish, elvish or
//! PowerShell, generated from the same clap definition the command parses with, so it never
//! falls behind an option.

use clap_complete::Shell;

/// The script for `shell`, for the command `command` (named `dx-conformance`).
pub fn script(shell: Shell, command: &mut clap::Command) -> String {
    let mut buffer = Vec::new();
    clap_complete::generate(shell, command, "dx-conformance", &mut buffer);
    String::from_utf8_lossy(&buffer).into_owned()
}
