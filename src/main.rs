//! The `kcn-ledger` command line: `serve` runs the server; `verify` checks a stored log offline,
//! `audit` checks a running server against a trusted checkpoint, `backup` copies a serving SQLite
//! store and verifies the copy, and `export` writes a period's events with their proofs into one
//! file that `verify-export` checks offline. Flags override the configuration file and the `KCN_*`
//! environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use chrono::NaiveDate;
use clap::{ArgGroup, Parser, Subcommand};
use figment::Figment;
use figment::providers::Serialized;
use kcn_ledger::config::{Config, LogFormat};
use kcn_ledger::{audit_cli, export, verify};

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
    /// Serve the gRPC API on the embedded SQLite store (no set-up needed), or on PostgreSQL with
    /// --database-url.
    Serve {
        /// Address to listen on (default 127.0.0.1:50051).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Data directory (default ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A postgres:// URL to keep the log and read models in PostgreSQL instead of the embedded
        /// SQLite file (also KCN_DATABASE_URL, which keeps a password out of the process list).
        #[arg(long)]
        database_url: Option<String>,
        /// The PostgreSQL connection pool's size (default 10).
        #[arg(long)]
        database_max_connections: Option<u32>,
    },
    /// Verify a stored log offline: recompute every leaf and the tree, check them against the
    /// stored tree hashes and every signed checkpoint, and name the first position whose stored
    /// bytes no longer match what was signed. Exits 1 when anything is wrong.
    Verify {
        /// A data directory, a SQLite file, or a postgres:// URL (default: the configured data
        /// directory).
        source: Option<String>,
        /// The log's published verifier key (<name>+<hex id>+<base64 key>). Default: derived from
        /// the configured seed or the data directory's key file, which whoever could alter the
        /// database could also have replaced; an auditor should pass the published key.
        #[arg(long, conflicts_with = "verifier_key_file")]
        verifier_key: Option<String>,
        /// A file holding the verifier key.
        #[arg(long)]
        verifier_key_file: Option<PathBuf>,
        /// The log's origin, which every checkpoint must name (default: the log's own).
        #[arg(long)]
        origin: Option<String>,
    },
    /// Audit a running server: fetch its latest checkpoint and the consistency proof from a
    /// trusted checkpoint, and say whether the log only grew. Exits 1 when it did not.
    Audit {
        /// The server's URL.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// A file holding the trusted signed checkpoint note (from an earlier audit). Without it,
        /// the latest checkpoint is only verified and can be saved with --save.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The log's published verifier key (<name>+<hex id>+<base64 key>).
        #[arg(long, required_unless_present = "verifier_key_file")]
        verifier_key: Option<String>,
        /// A file holding the verifier key.
        #[arg(long, conflicts_with = "verifier_key")]
        verifier_key_file: Option<PathBuf>,
        /// Where to write the latest checkpoint note when the audit passes (may be the same file
        /// as --checkpoint, to keep the newest trusted checkpoint).
        #[arg(long)]
        save: Option<PathBuf>,
        /// A file holding the caller's token (default: the KCN_TOKEN environment variable); any
        /// principal may read checkpoints and proofs.
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// Back up the SQLite store while the server serves: an online, consistent copy (SQLite's
    /// VACUUM INTO) written into DEST as a new data directory, with the log's origin and signing
    /// key, then verified like `verify`. Restore by serving with --data-dir DEST. Exits 1 when the
    /// copy does not verify. (PostgreSQL: pg_dump, see the README.)
    Backup {
        /// The new data directory to write (must not exist, or be empty).
        dest: PathBuf,
        /// The live data directory (default ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Leave the signing key out of the backup (it must then be put back from where it is kept
        /// before a restored server can extend the log).
        #[arg(long)]
        without_key: bool,
    },
    /// Export the events of a business period (their occurred_at on local dates, UTC+7) or of a
    /// range of positions into one JSON Lines file, each with every field of its leaf and its
    /// inclusion proof against the latest signed checkpoint, which the file holds. An auditor checks
    /// it offline with `verify-export`. Fails when no signed checkpoint covers the selection yet.
    #[command(group(ArgGroup::new("selection").required(true).args(["from_date", "from_position"])))]
    Export {
        /// The file to write (it must not exist).
        out: PathBuf,
        /// The period's first local date, YYYY-MM-DD (with --to-date).
        #[arg(long, value_parser = parse_date, requires = "to_date", conflicts_with = "from_position")]
        from_date: Option<NaiveDate>,
        /// The period's last local date, included.
        #[arg(long, value_parser = parse_date, requires = "from_date")]
        to_date: Option<NaiveDate>,
        /// The first position (with --to-position).
        #[arg(long, requires = "to_position", conflicts_with = "to_date")]
        from_position: Option<u64>,
        /// The last position, included.
        #[arg(long, requires = "from_position")]
        to_position: Option<u64>,
        /// The log's verifier key, when neither the configuration nor the data directory holds
        /// the log's key (a PostgreSQL store without its configured seed).
        #[arg(long, conflicts_with = "verifier_key_file")]
        verifier_key: Option<String>,
        /// A file holding the verifier key.
        #[arg(long)]
        verifier_key_file: Option<PathBuf>,
        /// The store: --database-url, or --data-dir (a data directory or its SQLite file).
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Verify an export offline (no store, no server): the checkpoint's signature with the log's
    /// published key, every event's leaf recomputed from its fields, every inclusion proof, the
    /// selection and the file's completeness. Exits 1 naming the first bad position otherwise.
    VerifyExport {
        /// The export file.
        file: PathBuf,
        /// The log's published verifier key (<name>+<hex id>+<base64 key>).
        #[arg(long, required_unless_present = "verifier_key_file")]
        verifier_key: Option<String>,
        /// A file holding the verifier key.
        #[arg(long, conflicts_with = "verifier_key")]
        verifier_key_file: Option<PathBuf>,
        /// The origin the checkpoint must name (default: the one the export names).
        #[arg(long)]
        origin: Option<String>,
    },
    /// Apply the event log's and the read models' migrations to the store, without serving (for a
    /// deployment that migrates before it starts servers).
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Manage the read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Issue, list, change and revoke the principals that may call a running server (an
    /// administrator's token in KCN_TOKEN or --token-file).
    Principals {
        /// The server's URL.
        #[arg(long, global = true, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// A file holding the caller's token (default: the KCN_TOKEN environment variable).
        #[arg(long, global = true)]
        token_file: Option<PathBuf>,
        #[command(subcommand)]
        command: PrincipalsCommand,
    },
    /// Start the embedded server on a fresh SQLite database, seed it through the API with a
    /// generated province (Bình Dương's parks, companies and tenants, and years of coordination),
    /// print a few audit answers and the verifier key, and keep serving until Ctrl-C.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// The demo's data directory (a directory that holds a log already is served as it is).
        #[arg(long, default_value = "demo-data")]
        data_dir: PathBuf,
        /// About how many events to generate.
        #[arg(long, default_value_t = 60_000)]
        events: u64,
        /// The generator's seed: the same seed gives the same province and history.
        #[arg(long, default_value_t = 2025)]
        seed: u64,
        /// Commands in flight at once.
        #[arg(long, default_value_t = 16)]
        callers: usize,
    },
    /// See and steer the delivery of the log to the configured e-government endpoints on a
    /// running server (an administrator's token in KCN_TOKEN or --token-file).
    Deliveries {
        /// The server's URL.
        #[arg(long, global = true, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// A file holding the caller's token (default: the KCN_TOKEN environment variable).
        #[arg(long, global = true)]
        token_file: Option<PathBuf>,
        #[command(subcommand)]
        command: DeliveriesCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DeliveriesCommand {
    /// Where each endpoint's delivery stands.
    List,
    /// Let a paused endpoint try again from the event it is paused at.
    Redrive { endpoint: String },
    /// Skip the event an endpoint is paused at (recorded in the log) and go on.
    Skip {
        endpoint: String,
        /// The position it is paused at.
        #[arg(long)]
        position: u64,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum PrincipalsCommand {
    /// Issue a principal and print its token once (the server keeps only its hash).
    Add {
        /// Who it is, as an auditor should read it ("Phòng Môi trường – Ban Quản lý").
        #[arg(long)]
        name: String,
        /// board_officer, company_officer, auditor, integration or administrator.
        #[arg(long, value_parser = kcn_ledger::principals_cli::parse_role)]
        role: kcn_domain::principal::Role,
        /// The authority (Board officer) or infrastructure company (company officer) it acts for.
        #[arg(long)]
        organisation: Option<uuid::Uuid>,
        /// When its token stops working (RFC 3339).
        #[arg(long)]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        /// Write the token to this new file (mode 0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// A client certificate (PEM) that identifies the principal over mutual TLS, besides its
        /// token (the server's `tls_client_ca` must have signed it).
        #[arg(long)]
        certificate: Option<PathBuf>,
    },
    /// List the principals, or those that could act for an organisation at an instant.
    List {
        #[arg(long)]
        organisation: Option<uuid::Uuid>,
        /// RFC 3339: only those whose grant was active then, with that grant.
        #[arg(long)]
        active_at: Option<chrono::DateTime<chrono::Utc>>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Give a principal another role or organisation, from now on.
    Role {
        principal_id: String,
        #[arg(long, value_parser = kcn_ledger::principals_cli::parse_role)]
        role: kcn_domain::principal::Role,
        #[arg(long)]
        organisation: Option<uuid::Uuid>,
    },
    /// Revoke a principal: its token stops working on the next call.
    Revoke {
        principal_id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Which store a maintenance command works on.
#[derive(Debug, clap::Args)]
struct StoreArgs {
    /// A postgres:// URL (also KCN_DATABASE_URL); default: the SQLite file in the data directory.
    #[arg(long)]
    database_url: Option<String>,
    /// Data directory (default ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl StoreArgs {
    fn config(self, file: Option<&std::path::Path>) -> anyhow::Result<Config> {
        let mut flags = Figment::new();
        if let Some(url) = self.database_url {
            flags = flags.merge(Serialized::default("database_url", url));
        }
        if let Some(dir) = self.data_dir {
            flags = flags.merge(Serialized::default("data_dir", dir));
        }
        Ok(Config::load(file, flags)?)
    }
}

#[derive(Debug, Subcommand)]
enum ProjectionsCommand {
    /// Replay the log into a read model from position 0 (all of them, in one replay, without NAME).
    /// Every read model is rebuilt beside its live tables and switched in at the end, so a running
    /// server keeps answering; the replaced tables are dropped later by the server.
    Rebuild {
        /// The read model (timeline, inspections, incidents, …; `projections status` lists them).
        name: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show each read model's position, lag behind the log, and why it stopped, if it did. Exits 1
    /// when any read model is stopped.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Reads a verifier key given inline or in a file.
fn verifier_key(inline: Option<String>, file: Option<PathBuf>) -> anyhow::Result<Option<String>> {
    match (inline, file) {
        (Some(key), _) => Ok(Some(key)),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|k| Some(k.trim().to_owned()))
            .with_context(|| format!("cannot read the verifier key from {}", path.display())),
        (None, None) => Ok(None),
    }
}

/// A strict `YYYY-MM-DD` business date, as the API reads one.
fn parse_date(text: &str) -> Result<NaiveDate, String> {
    kcn_domain::values::date(text).map_err(|e| e.0)
}

/// The store a maintenance command names: the PostgreSQL URL when one is configured, else the
/// data directory's SQLite file (or the SQLite file given as the data directory).
fn store_source(config: &Config) -> verify::Source {
    match &config.database_url {
        Some(url) => verify::Source::parse(url.expose()),
        None if config.data_dir.is_file() => verify::Source::Sqlite(config.data_dir.clone()),
        None => verify::Source::Sqlite(config.database_path()),
    }
}

/// Logs on stderr, as `log_format` and `RUST_LOG` say (traces are the `serve` command's alone).
fn init_logging(format: LogFormat) -> anyhow::Result<kcn_ledger::telemetry::Telemetry> {
    kcn_ledger::telemetry::init(format, None)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            // Logging may not be set up yet; the error is the program's answer, on stderr.
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Deliveries {
            server,
            token_file,
            command,
        } => {
            use kcn_ledger::deliveries_cli as cli;
            let token = kcn_ledger::client::token(token_file.as_deref())?;
            let channel = kcn_ledger::client::connect(&server, token.as_deref()).await?;
            match command {
                DeliveriesCommand::List => {
                    for line in cli::list(channel).await? {
                        println!("{line}");
                    }
                }
                DeliveriesCommand::Redrive { endpoint } => {
                    println!("{}", cli::redrive(channel, &endpoint).await?);
                }
                DeliveriesCommand::Skip {
                    endpoint,
                    position,
                    reason,
                } => {
                    let at = cli::skip(channel, &endpoint, position, &reason).await?;
                    println!("skipped position {position}; recorded at position {at}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Principals {
            server,
            token_file,
            command,
        } => {
            use kcn_ledger::principals_cli as cli;
            let token = kcn_ledger::client::token(token_file.as_deref())?;
            let channel = kcn_ledger::client::connect(&server, token.as_deref()).await?;
            match command {
                PrincipalsCommand::Add {
                    name,
                    role,
                    organisation,
                    expires_at,
                    out,
                    certificate,
                } => {
                    let new = cli::NewPrincipal {
                        name,
                        role,
                        organisation_id: organisation,
                        expires_at,
                        certificate,
                    };
                    let (id, token) = cli::add(channel, new).await?;
                    match out {
                        Some(path) => {
                            kcn_ledger::bootstrap::write_secret(&path, &token)?;
                            println!("{id}");
                        }
                        None => println!("{id} {token}"),
                    }
                }
                PrincipalsCommand::List {
                    organisation,
                    active_at,
                    json,
                } => {
                    for line in cli::list(channel, organisation, active_at, json).await? {
                        println!("{line}");
                    }
                }
                PrincipalsCommand::Role {
                    principal_id,
                    role,
                    organisation,
                } => cli::change_role(channel, &principal_id, role, organisation).await?,
                PrincipalsCommand::Revoke {
                    principal_id,
                    reason,
                } => cli::revoke(channel, &principal_id, reason).await?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            listen,
            data_dir,
            database_url,
            database_max_connections,
        } => {
            let mut flags = Figment::new();
            if let Some(url) = database_url {
                flags = flags.merge(Serialized::default("database_url", url));
            }
            if let Some(n) = database_max_connections {
                flags = flags.merge(Serialized::default("database_max_connections", n));
            }
            if let Some(listen) = listen {
                flags = flags.merge(Serialized::default("listen", listen));
            }
            if let Some(dir) = data_dir {
                flags = flags.merge(Serialized::default("data_dir", dir));
            }
            let config = Config::load(cli.config.as_deref(), flags)?;
            // Held until the server has stopped, so that the last traces are sent.
            let _telemetry =
                kcn_ledger::telemetry::init(config.log_format, config.otlp_endpoint.as_deref())?;
            kcn_ledger::run(config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            listen,
            data_dir,
            events,
            seed,
            callers,
        } => {
            let flags = Figment::new()
                .merge(Serialized::default("listen", listen))
                .merge(Serialized::default("data_dir", data_dir));
            let config = Config::load(cli.config.as_deref(), flags)?;
            let _telemetry = kcn_ledger::telemetry::init_filtered(
                config.log_format,
                config.otlp_endpoint.as_deref(),
                "warn,kcn_ledger=info,kcn_ledger::rpc=warn",
            )?;
            let options = kcn_ledger::generate::Options {
                seed,
                events,
                callers,
                ..Default::default()
            };
            kcn_ledger::demo::run(config, options).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            source,
            verifier_key: key,
            verifier_key_file,
            origin,
        } => {
            let config = Config::load(cli.config.as_deref(), Figment::new())?;
            let _logging = init_logging(config.log_format)?;
            let source = match source {
                Some(text) => verify::Source::parse(&text),
                // The configured store: the PostgreSQL URL when one is set, else the SQLite file.
                None => match &config.database_url {
                    Some(url) => verify::Source::parse(url.expose()),
                    None => verify::Source::Sqlite(config.database_path()),
                },
            };
            let options = verify::Options {
                source,
                verifier_key: verifier_key(key, verifier_key_file)?,
                origin,
                identity: config.identity(),
                progress: true,
            };
            let report = verify::verify(&options).await?;
            for problem in &report.problems {
                tracing::error!(%problem, "verification finding");
            }
            println!("{}", report.verdict());
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Backup {
            dest,
            data_dir,
            without_key,
        } => {
            let mut flags = Figment::new();
            if let Some(dir) = data_dir {
                flags = flags.merge(Serialized::default("data_dir", dir));
            }
            let config = Config::load(cli.config.as_deref(), flags)?;
            let _logging = init_logging(config.log_format)?;
            anyhow::ensure!(
                config.database_url.is_none(),
                "backup copies the SQLite store; back PostgreSQL up with pg_dump (see the README)"
            );
            let backup = kcn_ledger::backup::backup(&kcn_ledger::backup::Options {
                data_dir: config.data_dir.clone(),
                dest,
                identity: config.identity(),
                with_key: !without_key,
                progress: true,
            })
            .await?;
            for problem in &backup.report.problems {
                tracing::error!(%problem, "verification finding in the backup");
            }
            println!("{}", backup.summary());
            Ok(if backup.report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Export {
            out,
            from_date,
            to_date,
            from_position,
            to_position,
            verifier_key: key,
            verifier_key_file,
            store,
        } => {
            let config = store.config(cli.config.as_deref())?;
            let _logging = init_logging(config.log_format)?;
            let selection = match (from_date, to_date, from_position, to_position) {
                (Some(from_date), Some(to_date), None, None) => {
                    anyhow::ensure!(
                        from_date <= to_date,
                        "--to-date {to_date} is before --from-date {from_date}"
                    );
                    export::Selection::Period {
                        from_date,
                        to_date,
                        utc_offset: export::Offset::Vietnam,
                    }
                }
                (None, None, Some(from_position), Some(to_position)) => {
                    anyhow::ensure!(from_position >= 1, "--from-position starts at 1");
                    anyhow::ensure!(
                        from_position <= to_position,
                        "--to-position {to_position} is before --from-position {from_position}"
                    );
                    export::Selection::Positions {
                        from_position,
                        to_position,
                    }
                }
                _ => anyhow::bail!(
                    "give --from-date and --to-date, or --from-position and --to-position"
                ),
            };
            let summary = export::export(&export::Options {
                source: store_source(&config),
                out,
                selection,
                verifier_key: verifier_key(key, verifier_key_file)?,
                identity: config.identity(),
                progress: true,
            })
            .await?;
            println!("{}", summary.summary());
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifyExport {
            file,
            verifier_key: key,
            verifier_key_file,
            origin,
        } => {
            let _logging = init_logging(LogFormat::Auto)?;
            let key = verifier_key(key, verifier_key_file)?
                .context("a verifier key is required (--verifier-key or --verifier-key-file)")?;
            let verifier = key
                .trim()
                .parse()
                .context("the verifier key is not <name>+<hex id>+<base64 key>")?;
            let report = export::check::verify_export(&export::check::Options {
                file,
                verifier,
                origin,
                progress: true,
            })?;
            for finding in &report.findings {
                tracing::error!(%finding, "export finding");
            }
            println!("{}", report.verdict());
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Migrate { store } => {
            let config = store.config(cli.config.as_deref())?;
            let _logging = init_logging(config.log_format)?;
            kcn_ledger::migrate(&config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Projections {
            command: ProjectionsCommand::Rebuild { name, store },
        } => {
            let config = store.config(cli.config.as_deref())?;
            let _logging = init_logging(config.log_format)?;
            kcn_ledger::projections_cli::rebuild(&config, name.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Projections {
            command: ProjectionsCommand::Status { json, store },
        } => {
            let config = store.config(cli.config.as_deref())?;
            let _logging = init_logging(config.log_format)?;
            let healthy = kcn_ledger::projections_cli::status(&config, json).await?;
            Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Audit {
            server,
            checkpoint,
            verifier_key: key,
            verifier_key_file,
            save,
            token_file,
        } => {
            let _logging = init_logging(LogFormat::Auto)?;
            let key = verifier_key(key, verifier_key_file)?
                .context("a verifier key is required (--verifier-key or --verifier-key-file)")?;
            let verifier = key
                .parse()
                .context("the verifier key is not <name>+<hex id>+<base64 key>")?;
            let trusted = checkpoint
                .map(|path| {
                    std::fs::read_to_string(&path).with_context(|| {
                        format!("cannot read the trusted checkpoint {}", path.display())
                    })
                })
                .transpose()?;
            let token = kcn_ledger::client::token(token_file.as_deref())?;
            let mut client = audit_cli::connect(&server, token.as_deref()).await?;
            let audit = audit_cli::audit(&mut client, trusted.as_deref(), &verifier).await?;
            println!("{}", audit.summary());
            if !audit.is_consistent() {
                return Ok(ExitCode::FAILURE);
            }
            if let Some(path) = save {
                std::fs::write(&path, &audit.latest_note)
                    .with_context(|| format!("cannot save the checkpoint to {}", path.display()))?;
                tracing::info!(path = %path.display(), tree_size = audit.latest.size, "latest checkpoint saved");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
