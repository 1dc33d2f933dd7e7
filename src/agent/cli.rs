//! `crosscert agent ...`: the agent itself, its stock tray and its status.

use clap::{Args, Subcommand};
use std::path::PathBuf;

use super::api::{AgentClient, ClientOptions};
use super::journal::Journal;
use super::run::{self, AgentConfig};
use super::serial::Serial;

#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = false)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: Option<AgentCommand>,
    /// The central service, e.g. https://crosscert.example.cn
    #[arg(long, global = true)]
    pub server: Option<String>,
    /// File holding the hall's agent token (surrounding whitespace is trimmed)
    #[arg(long, global = true)]
    pub token_file: Option<PathBuf>,
    /// The agent's journal, tray and trust-list cache (created when missing)
    #[arg(long, global = true, default_value = "agent-state")]
    pub state_dir: PathBuf,
    /// Where print-ready PDFs are written (created when missing)
    #[arg(long)]
    pub spool: Option<PathBuf>,
    /// Print command run through `sh -c`; `{file}` becomes the PDF's (quoted) path
    #[arg(long)]
    pub print_command: Option<String>,
    /// Client certificate (PEM) for mutual TLS
    #[arg(long, global = true, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Its private key (PEM)
    #[arg(long, global = true, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// CA certificate (PEM) that signed the server's TLS certificate
    #[arg(long, global = true)]
    pub ca: Option<PathBuf>,
    /// Kiosk mode: a self-service kiosk (its token issued with `--kiosk`) that prints only
    /// the jobs holders release at its touch screen
    #[arg(long)]
    pub kiosk: bool,
    /// Where the kiosk's touch screen is served (kiosk mode)
    #[arg(long, default_value = "127.0.0.1:8090", requires = "kiosk")]
    pub kiosk_listen: String,
    /// Long-poll seconds per claim (at most 30)
    #[arg(long, default_value_t = 25, hide = true)]
    pub wait_s: u64,
}

#[derive(Subcommand, Debug, Clone)]
pub enum AgentCommand {
    /// The stock tray: numbered blank security sheets
    Stock {
        #[command(subcommand)]
        command: StockCommand,
    },
    /// Show the tray, the jobs in hand and the unconfirmed reports
    Status,
}

#[derive(Subcommand, Debug, Clone)]
pub enum StockCommand {
    /// Put numbered blank sheets into the tray, in printing order
    Load {
        /// The first serial, letters then digits (e.g. LY00000001)
        #[arg(long)]
        from: String,
        #[arg(long)]
        count: i64,
    },
    /// Report a spoiled sheet to the server and take it out of the tray
    Void {
        serial: String,
        #[arg(long)]
        reason: String,
    },
}

fn client_options(a: &AgentArgs) -> anyhow::Result<ClientOptions> {
    let server = a
        .server
        .clone()
        .ok_or_else(|| anyhow::anyhow!("--server is required"))?;
    let token_file = a.token_file.clone();
    if token_file.is_none() && a.client_cert.is_none() {
        anyhow::bail!("--token-file (or --client-cert and --client-key) is required");
    }
    Ok(ClientOptions {
        server,
        token_file,
        client_cert: a.client_cert.clone(),
        client_key: a.client_key.clone(),
        ca: a.ca.clone(),
    })
}

pub fn run(a: AgentArgs) -> anyhow::Result<()> {
    match a.command.clone() {
        None => {
            let spool = a
                .spool
                .clone()
                .ok_or_else(|| anyhow::anyhow!("--spool is required"))?;
            if a.wait_s == 0 || a.wait_s > super::api::MAX_WAIT_S {
                anyhow::bail!("--wait-s must be between 1 and {}", super::api::MAX_WAIT_S);
            }
            let cfg = AgentConfig {
                client: client_options(&a)?,
                state_dir: a.state_dir.clone(),
                spool_dir: spool,
                print_command: a.print_command.clone(),
                wait_s: a.wait_s,
                kiosk_listen: a.kiosk.then(|| a.kiosk_listen.clone()),
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(run::run(cfg))?;
            Ok(())
        }
        Some(AgentCommand::Status) => {
            let mut journal = Journal::open(&a.state_dir)?;
            print!("{}", journal.status()?);
            Ok(())
        }
        Some(AgentCommand::Stock {
            command: StockCommand::Load { from, count },
        }) => {
            let first = Serial::parse(&from).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
            let mut journal = Journal::open(&a.state_dir)?;
            let loaded = journal.load_stock(&first, count)?;
            eprintln!(
                "loaded {} sheet(s) {}..{}; the tray holds {} blank",
                loaded.len(),
                loaded[0],
                loaded[loaded.len() - 1],
                journal.blank_count()?
            );
            Ok(())
        }
        Some(AgentCommand::Stock {
            command: StockCommand::Void { serial, reason },
        }) => {
            let serial = Serial::parse(&serial)
                .map_err(|e| anyhow::anyhow!("SERIAL: {e}"))?
                .to_string();
            let reason = reason.trim().to_string();
            if reason.is_empty() {
                anyhow::bail!("--reason must not be empty");
            }
            let mut journal = Journal::open(&a.state_dir)?;
            journal.check_voidable(&serial)?;
            let client = AgentClient::new(&client_options(&a)?)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            // Server first: a sheet leaves the tray only once the server has recorded why.
            rt.block_on(client.void_sheets(std::slice::from_ref(&serial), &reason))
                .map_err(|e| anyhow::anyhow!("the server did not void {serial}: {e}"))?;
            journal.mark_voided(&serial, &reason)?;
            eprintln!("voided {serial}: {reason}");
            Ok(())
        }
    }
}
