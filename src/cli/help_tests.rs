//! Every command's `--help` shows how it is used: an `Examples:` section
//! naming the command itself.

use super::Cli;
use clap::CommandFactory;

/// `(path, long help)` of `cmd` and every subcommand below it, clap's own
/// `help` subcommand left out.
fn helps(cmd: &mut clap::Command, path: String, out: &mut Vec<(String, String)>) {
    out.push((path.clone(), cmd.render_long_help().to_string()));
    for sub in cmd.get_subcommands_mut().filter(|s| s.get_name() != "help") {
        let path = format!("{path} {}", sub.get_name());
        helps(sub, path, out);
    }
}

#[test]
fn every_command_shows_an_example_of_itself() {
    let mut cli = Cli::command();
    cli.build();
    let mut all = Vec::new();
    helps(&mut cli, "berth".into(), &mut all);
    assert!(all.len() > 15, "the walk reached every subcommand: {:?}", all.iter().map(|(p, _)| p).collect::<Vec<_>>());
    let missing: Vec<&str> = all
        .iter()
        .filter(|(path, help)| {
            !help.split_once("Examples:").is_some_and(|(_, examples)| examples.contains(path.as_str()))
        })
        .map(|(path, _)| path.as_str())
        .collect();
    assert!(missing.is_empty(), "no `Examples:` showing the command in the help of: {missing:?}");
}
