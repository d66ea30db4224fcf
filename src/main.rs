//! The `kcn-ledger` command line: `serve` runs the server; flags override the configuration file and
//! the `KCN_*` environment variables.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use figment::Figment;
use figment::providers::Serialized;
use kcn_ledger::config::{Config, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "kcn-ledger",
    version,
    about = "The provable history of coordination on environmental protection in industrial parks"
)]
struct Cli {
    /// A TOML configuration file (also KCN_CONFIG).
    #[arg(long, global = true, env = "KCN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC API on the embedded SQLite store (no set-up needed).
    Serve {
        /// Address to listen on (default 127.0.0.1:50051).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Data directory (default ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { listen, data_dir } => {
            let mut flags = Figment::new();
            if let Some(listen) = listen {
                flags = flags.merge(Serialized::default("listen", listen));
            }
            if let Some(dir) = data_dir {
                flags = flags.merge(Serialized::default("data_dir", dir));
            }
            let config = Config::load(cli.config.as_deref(), flags)?;
            init_logging(config.log_format);
            kcn_ledger::run(config).await
        }
    }
}
