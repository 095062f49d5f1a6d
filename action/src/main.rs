//! `codereview`: see [`codereview::cli`].

use clap::Parser;

fn main() {
    let cli = codereview::cli::Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let code = codereview::cli::run(cli, &mut out);
    drop(out);
    std::process::exit(code);
}
