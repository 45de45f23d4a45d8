//! The `consent-gate` command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use consent_gate::config::Config;
use consent_gate::engine::Engine;
use consent_gate::rules::Rules;
use consent_gate::server::{self, RunOptions};

/// mimalloc: a proxy allocates and frees small buffers on every request, and glibc's malloc
/// was a tenth of the CPU a pass-through request costs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "consent-gate",
    version,
    about = "A reverse proxy that enforces cookie consent at the HTTP layer"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Run {
        /// Config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Take over the listeners of the running instance (zero-downtime upgrade; send it
        /// SIGQUIT after this one starts).
        #[arg(long)]
        upgrade: bool,
    },
    /// Validate a config file and the rule files it names, or rule files on their own.
    Check {
        /// Config file.
        #[arg(long, short, required_unless_present = "rules")]
        config: Option<PathBuf>,
        /// Rule files to check without a config (built-in categories only).
        #[arg(long, num_args = 1..)]
        rules: Vec<PathBuf>,
    },
    /// Explain what consent-gate would do with a request (and its response), rule by rule.
    Explain {
        /// Config file (default: a default site with the built-in default rules).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// An HTML file to rewrite ("-" for standard input).
        #[arg(long)]
        html: Option<PathBuf>,
        #[command(flatten)]
        query: consent_gate::explain::Query,
    },
    /// Regenerate the default rule files from the third-party data in `data/`.
    GenerateRules {
        /// Folder holding `open-cookie-database/` and `adguard-companiesdb/`.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Folder holding `curated.toml`; the generated files are written there.
        #[arg(long, default_value = "conf/rules")]
        out: PathBuf,
    },
    /// Run a demo: a legacy site with real-world tracker embeds behind the proxy.
    Demo {
        /// Proxy address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Admin (metrics) address.
        #[arg(long, default_value = "127.0.0.1:9901")]
        admin: SocketAddr,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn check(config: Option<PathBuf>, rule_files: Vec<PathBuf>) -> anyhow::Result<String> {
    if let Some(path) = config {
        let config = Config::load(&path)?;
        let mut files = config.rule_files.clone();
        files.extend(rule_files);
        let rules = Rules::load(&files, &config.policy.categories)?;
        Ok(format!(
            "{}: OK: {} site(s), {}",
            path.display(),
            config.sites.len(),
            rules_summary(&rules)
        ))
    } else {
        let rules = Rules::load(&rule_files, &Default::default())?;
        Ok(format!("OK: {}", rules_summary(&rules)))
    }
}

fn rules_summary(rules: &Rules) -> String {
    let c = rules.counts();
    format!(
        "{} rule file(s): {} cookie, {} resource, {} signature, {} path, {} allow rules",
        rules.files().len(),
        c.cookies,
        c.resources,
        c.signatures,
        c.paths,
        c.allows
    )
}

fn generate_rules(data: &std::path::Path, out: &std::path::Path) -> anyhow::Result<String> {
    use consent_gate::rules::generate;
    let curated = Rules::load(&[out.join("curated.toml")], &Default::default())?;
    let csv = std::fs::read_to_string(data.join("open-cookie-database/open-cookie-database.csv"))?;
    let json = std::fs::read_to_string(data.join("adguard-companiesdb/trackers.json"))?;
    let cookies = generate::cookie_rules(&csv, &curated)?;
    let trackers = generate::tracker_rules(&json)?;
    let cookie_path = out.join("open-cookie-database.toml");
    let tracker_path = out.join("adguard-trackers.toml");
    std::fs::write(&cookie_path, cookies)?;
    std::fs::write(&tracker_path, trackers)?;
    let rules = Rules::load(
        &[
            cookie_path.clone(),
            tracker_path.clone(),
            out.join("curated.toml"),
        ],
        &Default::default(),
    )?;
    let c = rules.counts();
    Ok(format!(
        "wrote {} and {}: {} cookie, {} resource, {} signature, {} path, {} allow rules in the default set",
        cookie_path.display(),
        tracker_path.display(),
        c.cookies,
        c.resources,
        c.signatures,
        c.paths,
        c.allows
    ))
}

/// Prints a command's output (or its error) and turns it into the exit code.
fn finish(result: anyhow::Result<String>, newline: bool) -> ExitCode {
    match result {
        Ok(text) if newline => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a prepared server until it is told to stop, or reports why it could not be prepared.
fn serve(prepared: anyhow::Result<pingora::server::Server>) -> ExitCode {
    match prepared {
        Ok(server) => server.run_forever(),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Check { config, rules } => finish(check(config, rules), true),
        Command::Run { config, upgrade } => serve((|| {
            let engine = Arc::new(Engine::new(Config::load(&config)?)?);
            tracing::info!(config = %config.display(), "starting consent-gate");
            Ok(server::build(engine, RunOptions { upgrade })?)
        })()),
        Command::Explain {
            config,
            html,
            mut query,
        } => {
            let result = (|| -> anyhow::Result<String> {
                let engine = match config {
                    Some(path) => Engine::new(Config::load(&path)?)?,
                    None => consent_gate::demo::explain_engine()?,
                };
                query.html = match html {
                    None => None,
                    Some(p) if p.as_os_str() == "-" => {
                        Some(std::io::read_to_string(std::io::stdin())?)
                    }
                    Some(p) => Some(std::fs::read_to_string(p)?),
                };
                Ok(consent_gate::explain::explain(&engine, &query))
            })();
            finish(result, false)
        }
        Command::GenerateRules { data, out } => finish(generate_rules(&data, &out), true),
        Command::Demo { listen, admin } => serve((|| {
            let (engine, banner, origin) = consent_gate::demo::prepare(listen, admin)?;
            let mut server = server::build(engine, RunOptions::default())?;
            server.add_service(origin);
            println!("{banner}");
            Ok(server)
        })()),
    }
}
