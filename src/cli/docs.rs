//! What berth says about itself, generated from the clap definition: the
//! version line, shell completion scripts (`berth completions`) and man
//! pages (`berth manpages`, hidden: packaging runs it). Nothing here runs
//! unless asked: the version is a constant made at build time (build.rs).

use std::io::Write;
use std::path::{Path, PathBuf};

/// `berth --version`: the package version and the commit it was built from.
pub const VERSION: &str = if env!("BERTH_GIT_COMMIT").is_empty() {
    concat!(env!("CARGO_PKG_VERSION"), " (built outside git)")
} else {
    concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("BERTH_GIT_COMMIT"), ")")
};

/// `berth completions SHELL`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples: install as root, or source it from your shell's startup file\n  \
berth completions bash > /usr/share/bash-completion/completions/berth\n  \
berth completions zsh  > /usr/share/zsh/vendor-completions/_berth\n  \
berth completions fish > /usr/share/fish/vendor_completions.d/berth.fish\n\
The Debian package installs all three.")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// `berth manpages --out DIR` (hidden).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  berth manpages --out target/man   # berth.1 and berth-<command>.1 pages")]
pub struct ManpagesArgs {
    /// Folder to write berth.1 and one page per subcommand (berth-plan.1, …) into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Print the completion script for `args.shell` on stdout.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<u8> {
    let mut cmd = without_hidden(&<super::Cli as clap::CommandFactory>::command());
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "berth", &mut out);
    out.flush()?;
    Ok(super::EXIT_OK)
}

/// `cmd` without its hidden subcommands, which clap_complete would offer
/// (clap cannot remove a subcommand, so the top level is made anew from its
/// parts: what a completion script uses). Nested hidden commands: none.
fn without_hidden(cmd: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new("berth")
        .about(cmd.get_about().cloned().unwrap_or_default())
        .version(VERSION)
        .subcommand_required(true);
    for arg in cmd.get_arguments().filter(|a| !matches!(a.get_id().as_str(), "help" | "version")) {
        out = out.arg(arg.clone());
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out = out.subcommand(sub.clone());
    }
    out
}

/// Write the man pages, saying each file written.
pub fn manpages(args: &ManpagesArgs) -> anyhow::Result<u8> {
    let cmd = <super::Cli as clap::CommandFactory>::command();
    for path in write_manpages(cmd, &args.out)? {
        println!("wrote {}", path.display());
    }
    Ok(super::EXIT_OK)
}

/// berth.1, then a page per visible subcommand at every depth
/// (`berth-secrets-keygen.1`), as clap_mangen names them.
fn write_manpages(cmd: clap::Command, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("failed to create {}: {e}; choose another --out", out.display()))?;
    let mut cmd = cmd.disable_help_subcommand(true);
    // Gives subcommands their display names (`berth-plan`).
    cmd.build();
    let mut written = Vec::new();
    let mut todo = vec![cmd];
    while let Some(cmd) = todo.pop() {
        todo.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
        let path = clap_mangen::Man::new(cmd)
            .generate_to(out)
            .map_err(|e| anyhow::anyhow!("failed to write a man page into {}: {e}", out.display()))?;
        written.push(path);
    }
    written.sort();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_the_commit_or_says_there_was_none() {
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")), "{VERSION}");
        assert!(VERSION.contains("(commit ") || VERSION.contains("(built outside git)"), "{VERSION}");
    }

    #[test]
    fn completions_leave_out_hidden_commands_only() {
        let full = <super::super::Cli as clap::CommandFactory>::command();
        let visible = without_hidden(&full);
        let names = |c: &clap::Command| c.get_subcommands().map(|s| s.get_name().to_string()).collect::<Vec<_>>();
        let mut expected = names(&full);
        expected.retain(|n| n != "manpages");
        assert_eq!(names(&visible), expected);
        assert_eq!(visible.get_arguments().count(), full.get_arguments().count());
        let mut script = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut visible.clone(), "berth", &mut script);
        let script = String::from_utf8(script).unwrap();
        assert!(script.contains("completions") && !script.contains("manpages"), "{script}");
    }

    #[test]
    fn a_man_page_for_berth_and_each_visible_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = <super::super::Cli as clap::CommandFactory>::command();
        let names: Vec<String> = write_manpages(cmd, dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for page in ["berth.1", "berth-plan.1", "berth-completions.1", "berth-secrets-keygen.1"] {
            assert!(names.iter().any(|n| n == page), "{page} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("manpages")), "the hidden command got a page: {names:?}");
        let page = std::fs::read_to_string(dir.path().join("berth-plan.1")).unwrap();
        assert!(page.starts_with(".ie") || page.contains(".TH"), "not roff: {page}");
        assert!(page.contains("detailed"), "berth-plan.1 lacks --detailed-exitcode: {page}");
    }
}
