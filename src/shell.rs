//! What meshgen hands the user's shell: completion scripts (clap_complete) and
//! manual pages in roff (clap_mangen), both generated from the command-line
//! definition in `cli`, so that neither can drift from it. Returns text and
//! never prints.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Error;

/// The program's name as the shell calls it.
const BIN: &str = "meshgen";

/// The completion script of meshgen for `shell`.
pub fn completions(shell: clap_complete::Shell) -> String {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, BIN, &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

/// The manual page of meshgen, `meshgen(1)`, or with `subcommand` that
/// subcommand's page (`meshgen-build(1)`), in roff.
pub fn man(subcommand: Option<&str>) -> Result<String, Error> {
    // Built, as clap_mangen's own generate_to does, so that each subcommand
    // carries its display name (`meshgen-build`) and its inherited global flags.
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let page = match subcommand {
        None => command,
        Some(name) => match command.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
                return Err(Error::Usage(format!(
                    "no subcommand `{name}` (the subcommands: {})",
                    names.join(", ")
                )));
            }
        },
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(|e| Error::io(std::path::Path::new("<manual page>"), e))?;
    Ok(String::from_utf8_lossy(&roff).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subcommand_page_is_titled_with_its_display_name() {
        let page = man(Some("build")).expect("page");
        assert!(page.starts_with(".ie \\n(.g .ds Aq \\(aq"), "{page}");
        assert!(page.contains(".TH meshgen-build 1"), "{page}");
        assert!(page.contains("\\-\\-crd\\-schemas"), "{page}");
    }

    #[test]
    fn an_unknown_subcommand_page_is_a_usage_error_naming_the_subcommands() {
        let error = man(Some("nope")).expect_err("no such page");
        assert!(
            error
                .to_string()
                .starts_with("no subcommand `nope` (the subcommands: build, check, diff"),
            "{error}"
        );
    }
}
