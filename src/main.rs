//! The `crosscert` command: configuration, tracing, and the chosen subcommand; nothing else.

use clap::{Args, Parser, Subcommand};
use crosscert::accounts::lifecycle;
use crosscert::{accounts, clock, config, demo, startup, storage, telemetry};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "crosscert",
    version,
    about = "Sealed e-licences, printed at the hall the holder prefers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
struct DbArgs {
    /// Database URL (else CROSSCERT_DATABASE_URL, DATABASE_URL, the config file, sqlite://data/crosscert.db)
    #[arg(long)]
    database_url: Option<String>,
    /// TOML configuration file
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the central service
    Serve {
        #[command(flatten)]
        db: DbArgs,
        /// Listen address (default 127.0.0.1:8080)
        #[arg(long)]
        bind: Option<String>,
        /// Demonstration: load the demo halls, stock and the administrator `admin` into an empty
        /// database, and allow the example key set (refused without it)
        #[arg(long)]
        demo: bool,
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        #[arg(long, requires = "tls_cert")]
        client_ca: Option<PathBuf>,
    },
    /// Run pending migrations
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// A consistent copy of the database, taken while the service runs (SQLite: VACUUM INTO;
    /// PostgreSQL: pg_dump), with a manifest: backend, schema, time, rows per table, SHA-256
    Backup {
        #[command(flatten)]
        db: DbArgs,
        /// The backup file to write
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a backup into an empty database of the same backend (checks the manifest and the
    /// hash first, migrates if the backup is older)
    Restore {
        /// The backup file
        #[arg(long)]
        from: PathBuf,
        /// The database to restore into (required: never a default)
        #[arg(long)]
        database_url: String,
        /// Replace a database that already holds data
        #[arg(long)]
        force: bool,
    },
    /// Load the demo halls (idempotent)
    SeedDemo {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Render a specimen (样本) PDF of one type from an example-shaped record
    Render {
        /// The certificate type code
        #[arg(long = "type")]
        type_code: String,
        /// JSON file: {holder: {name, code}, fields: {...}, valid_from, valid_to}
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Signing keys: the example set, the check, and the key ceremony (init-root, new-signer,
    /// sign-signer, install-signer, retire, list)
    Keys {
        #[command(subcommand)]
        command: crosscert::issuance::cli::KeysCommand,
    },
    /// Staff accounts and hall agent tokens
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Verify a licence's QR code offline against a trust list. Exit 0: authentic (and valid
    /// as far as known offline); 1: does not verify; 2: unusable arguments
    Verify(VerifyArgs),
    /// The offline verifier's bundle of signed lists
    Verifier {
        #[command(subcommand)]
        command: VerifierCommand,
    },
    /// The hall print agent; `stock ...` and `status` manage its tray and journal
    Agent(crosscert::agent::cli::AgentArgs),
    /// The transparency log: verifier key, monitor, offline proof check
    Log {
        #[command(subcommand)]
        command: crosscert::tlog::cli::LogCommand,
    },
    /// A witness that cosigns the log's checkpoints (C2SP tlog-witness)
    Witness {
        #[command(subcommand)]
        command: crosscert::tlog::cli::WitnessCommand,
    },
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["code", "image", "cose_hex", "pdf"])))]
struct VerifyArgs {
    /// The QR text (e.g. HTTPS://VERIFY.EXAMPLE.CN/V/...), or its Base32 payload alone
    code: Option<String>,
    /// The trust-list JSON (saved from GET /api/v1/trust-list); required unless --cose-hex
    /// or --bundle
    #[arg(
        long,
        required_unless_present_any = ["cose_hex", "bundle"],
        conflicts_with_all = ["cose_hex", "bundle"]
    )]
    trust_list: Option<PathBuf>,
    /// A bundle folder made by `crosscert verifier sync`: the signed trust list and the
    /// status lists, so revoked and suspended licences are told apart offline
    #[arg(long, conflicts_with = "cose_hex")]
    bundle: Option<PathBuf>,
    /// Read the QR code from this image (PNG), e.g. a photo or a rendered page
    #[arg(long)]
    image: Option<PathBuf>,
    /// Envelope check of a bare COSE_Sign1 in hex (kid and signature; no claims, no clock)
    #[arg(long, requires = "cert")]
    cose_hex: Option<String>,
    /// The signer certificate (PEM) for --cose-hex
    #[arg(long, requires = "cose_hex")]
    cert: Option<PathBuf>,
    /// Check a licence PDF: its PAdES signature and signer chain against the trust list,
    /// and that the attached seal.cose is genuine, matches the page's QR code and the signer
    #[arg(long, conflicts_with = "cose_hex")]
    pdf: Option<PathBuf>,
}

#[derive(Subcommand)]
enum VerifierCommand {
    /// Fetch the signed trust list, the status index and every status list into DIR,
    /// checking signatures (to the pinned root), sequence and expiry
    Sync {
        /// The server's base URL, e.g. https://verify.example.cn
        #[arg(long)]
        server: String,
        /// The bundle folder (created; its root.pem is the pinned root)
        #[arg(long)]
        out: PathBuf,
        /// The root certificate (PEM) to pin on the first sync; without it the server's root
        /// is pinned on first use, with a warning
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a staff account; the password is read from standard input
    CreateUser {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
        /// admin | issuer | hall_operator
        #[arg(long)]
        role: String,
        /// The code of the account's hall
        #[arg(long)]
        hall: String,
        /// Read the password (one line) from standard input
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable (ends its sessions at once) or enable an account
    SetActive {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
        #[arg(long, action = clap::ArgAction::Set)]
        active: bool,
    },
    /// Set a temporary password (read from standard input) that must be changed at the next
    /// sign-in; ends the account's sessions and clears its login throttling
    ResetPassword {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
        /// Read the password (one line) from standard input
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Clear an account's login throttling (every client address)
    Unlock {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
    },
    /// Issue a hall agent token: the token alone on stdout
    AgentToken {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        hall: String,
        /// A self-service kiosk's token: it releases held jobs, never claims the queue
        #[arg(long)]
        kiosk: bool,
    },
    /// Issue a department client (部门核验) token: the token alone on stdout, shown once
    DeptClient {
        #[command(flatten)]
        db: DbArgs,
        /// The department's name
        #[arg(long)]
        name: String,
        /// Certificate type codes granted, comma-separated
        #[arg(long, value_delimiter = ',', required_unless_present = "domains")]
        types: Vec<String>,
        /// Domains granted (market, transport, ...), comma-separated
        #[arg(long, value_delimiter = ',')]
        domains: Vec<String>,
    },
    /// Fill a database for load work: N sealed licences over the catalog's types (about 1%
    /// revoked, 0.5% suspended, 2% superseded), with their status-list slots and log entries,
    /// and M print jobs over the halls. Run it with the server stopped
    SeedLoad(crosscert::seed_load::cli::SeedLoadArgs),
}

fn settings_for(db: &DbArgs, bind: Option<String>) -> anyhow::Result<config::Settings> {
    let overrides = config::Overrides {
        database_url: db.database_url.clone(),
        bind,
    };
    Ok(config::Settings::load(db.config.as_deref(), &overrides)?)
}

fn open_pool(settings: &config::Settings) -> anyhow::Result<storage::DbPool> {
    let pool = storage::connect(&settings.database_url, 2)?;
    storage::run_migrations(&pool)?;
    Ok(pool)
}

fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    // The newline is not part of the password.
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    Ok(password.to_string())
}

fn offline_args(a: VerifyArgs) -> crosscert::verification::offline::OfflineArgs {
    crosscert::verification::offline::OfflineArgs {
        code: a.code,
        image: a.image,
        trust_list: a.trust_list,
        cose_hex: a.cose_hex,
        cert: a.cert,
        bundle: a.bundle,
        pdf: a.pdf,
    }
}

/// `false` from a check command: exit with status 1 (the reason is already printed).
fn exit_one_unless(ok: bool) -> anyhow::Result<()> {
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            db,
            bind,
            demo,
            tls_cert,
            tls_key,
            client_ca,
        } => {
            let mut settings = settings_for(&db, bind)?;
            telemetry::init_tracing(settings.json_logs, "info");
            if let (Some(cert), Some(key)) = (tls_cert, tls_key) {
                settings.tls = Some(config::TlsSettings {
                    cert,
                    key,
                    client_ca,
                });
            }
            actix_web::rt::System::new().block_on(async move {
                let app = startup::Application::build(
                    settings,
                    Arc::new(clock::SystemClock),
                    startup::BuildOptions { demo },
                )
                .await?;
                app.run_until_stopped().await?;
                Ok(())
            })
        }
        Command::Migrate { db } => {
            let settings = settings_for(&db, None)?;
            telemetry::init_tracing(settings.json_logs, "info");
            let pool = storage::connect(&settings.database_url, 1)?;
            let applied = storage::run_migrations(&pool)?;
            eprintln!("{} migration(s) applied", applied.len());
            Ok(())
        }
        Command::Backup { db, out } => {
            let settings = settings_for(&db, None)?;
            let mut stderr = std::io::stderr();
            let mut progress = crosscert::backup::Progress::new(&mut stderr);
            let manifest = crosscert::backup::backup(
                &settings.database_url,
                &out,
                chrono::Utc::now(),
                &mut progress,
            )?;
            let rows: i64 = manifest.row_counts.values().sum();
            eprintln!(
                "backup complete: {} ({} backend, schema {}, {rows} rows in {} tables)",
                out.display(),
                manifest.backend,
                manifest.schema_version,
                manifest.row_counts.len()
            );
            Ok(())
        }
        Command::Restore {
            from,
            database_url,
            force,
        } => {
            let mut stderr = std::io::stderr();
            let mut progress = crosscert::backup::Progress::new(&mut stderr);
            let restored = crosscert::backup::restore(&from, &database_url, force, &mut progress)?;
            let rows: i64 = restored.row_counts.values().sum();
            eprintln!(
                "restore complete: {rows} rows in {} tables from the backup of {}; {} migration(s) applied",
                restored.row_counts.len(),
                restored.manifest.created_at,
                restored.migrations_applied
            );
            Ok(())
        }
        Command::SeedDemo { db } => {
            let settings = settings_for(&db, None)?;
            let pool = open_pool(&settings)?;
            let added = demo::seed_demo(&pool, chrono::Utc::now())?;
            eprintln!("demo data: {added} hall(s) added");
            Ok(())
        }
        Command::Render {
            type_code,
            data,
            out,
            config,
        } => {
            let settings = settings_for(
                &DbArgs {
                    database_url: None,
                    config,
                },
                None,
            )?;
            let catalog = crosscert::catalog::Catalog::load(&settings.templates_dir)?;
            let t = catalog.get(&type_code).ok_or_else(|| {
                anyhow::anyhow!("--type: no certificate type with code {type_code}")
            })?;
            let text = std::fs::read_to_string(&data)
                .map_err(|e| anyhow::anyhow!("--data: cannot read {}: {e}", data.display()))?;
            let body: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("--data: {} is not JSON: {e}", data.display()))?;
            let record = t.validate(&body).map_err(|errors| {
                let list: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
                anyhow::anyhow!("--data: the record is invalid: {}", list.join("; "))
            })?;
            let fonts = crosscert::render::Fonts::load(settings.font_dir.as_deref())?;
            let pdf = crosscert::documents::render_specimen(
                &fonts,
                &catalog,
                t,
                &record,
                "发证机关（样本）",
                chrono::Utc::now().date_naive(),
            )?;
            std::fs::write(&out, pdf)
                .map_err(|e| anyhow::anyhow!("--out: cannot write {}: {e}", out.display()))?;
            eprintln!("specimen written to {}", out.display());
            Ok(())
        }
        Command::Keys { command } => crosscert::issuance::cli::run(command),
        Command::Verifier {
            command: VerifierCommand::Sync { server, out, root },
        } => {
            let args = crosscert::verification::bundle::SyncArgs { server, out, root };
            let started = std::time::Instant::now();
            let summary = actix_web::rt::System::new().block_on(async move {
                crosscert::verification::bundle::sync(&args, chrono::Utc::now(), |line| {
                    eprintln!("{line}")
                })
                .await
            })?;
            eprintln!(
                "bundle synced in {:.1} s: trust list sequence {}, {} status lists fetched, {} unchanged, {} licences through the status index, {} bytes",
                started.elapsed().as_secs_f64(),
                summary.trust_list_sequence,
                summary.lists_fetched,
                summary.lists_unchanged,
                summary.legacy_entries,
                summary.bytes
            );
            Ok(())
        }
        Command::Verify(args) => {
            // The verdict is the exit code (0/1/2, docs/architecture.md "Verification"); nothing else is loaded first.
            let code = crosscert::verification::offline::run(&offline_args(args));
            std::process::exit(i32::from(code))
        }
        Command::Admin { command } => match command {
            AdminCommand::CreateUser {
                db,
                username,
                role,
                hall,
                password_stdin: _,
            } => {
                let settings = settings_for(&db, None)?;
                let role = crosscert::domain::role::Role::parse(&role).ok_or_else(|| {
                    anyhow::anyhow!("--role must be admin, issuer or hall_operator")
                })?;
                let password = read_password_line()?;
                let pool = open_pool(&settings)?;
                let mut conn = pool.get()?;
                let id = accounts::create_user(
                    &mut conn,
                    &accounts::NewAccount {
                        username: &username,
                        password: &password,
                        role,
                        hall_code: &hall,
                    },
                    settings.password_hash,
                    "cli",
                    chrono::Utc::now(),
                )?;
                eprintln!("created user {username} (id {id}, role {role}, hall {hall})");
                Ok(())
            }
            AdminCommand::SetActive {
                db,
                username,
                active,
            } => {
                let settings = settings_for(&db, None)?;
                let pool = open_pool(&settings)?;
                let mut conn = pool.get()?;
                let user = lifecycle::set_active(&mut conn, &username, active, chrono::Utc::now())?;
                eprintln!(
                    "user {} is now {}{}",
                    user.username,
                    if user.active { "active" } else { "disabled" },
                    if user.active {
                        ""
                    } else {
                        "; its sessions have ended"
                    }
                );
                Ok(())
            }
            AdminCommand::ResetPassword {
                db,
                username,
                password_stdin: _,
            } => {
                let settings = settings_for(&db, None)?;
                let password = read_password_line()?;
                accounts::validate_password(&password)
                    .map_err(|e| anyhow::anyhow!("the password from standard input: {e}"))?;
                let pool = open_pool(&settings)?;
                let hash = accounts::hash_password(&password, settings.password_hash)?;
                let mut conn = pool.get()?;
                lifecycle::reset_password(
                    &mut conn,
                    &username,
                    &hash,
                    &lifecycle::Actor::cli(),
                    chrono::Utc::now(),
                )?;
                eprintln!("password of {username} reset; it must be changed at the next sign-in");
                Ok(())
            }
            AdminCommand::Unlock { db, username } => {
                let settings = settings_for(&db, None)?;
                let pool = open_pool(&settings)?;
                let mut conn = pool.get()?;
                let cleared = lifecycle::unlock(
                    &mut conn,
                    &username,
                    &lifecycle::Actor::cli(),
                    chrono::Utc::now(),
                )?;
                eprintln!("login throttling of {username} cleared ({cleared} counter(s))");
                Ok(())
            }
            AdminCommand::AgentToken { db, hall, kiosk } => {
                let settings = settings_for(&db, None)?;
                let pool = open_pool(&settings)?;
                let mut conn = pool.get()?;
                let kind = match kiosk {
                    true => crosscert::domain::job::AgentKind::Kiosk,
                    false => crosscert::domain::job::AgentKind::Counter,
                };
                let (_, token) =
                    accounts::issue_agent_token(&mut conn, &hall, kind, "cli", chrono::Utc::now())?;
                println!("{token}");
                Ok(())
            }
            AdminCommand::DeptClient {
                db,
                name,
                types,
                domains,
            } => {
                let settings = settings_for(&db, None)?;
                let catalog = crosscert::catalog::Catalog::load(&settings.templates_dir)?;
                let pool = open_pool(&settings)?;
                let mut conn = pool.get()?;
                let req = crosscert::wire::dept::CreateDeptClientRequest {
                    name,
                    types,
                    domains,
                };
                let created = crosscert::dept::clients::issue_client(
                    &mut conn,
                    &catalog,
                    &req,
                    "cli",
                    chrono::Utc::now(),
                )?;
                eprintln!(
                    "department client {} ({}) issued; the token is shown this once:",
                    created.id, created.name
                );
                println!("{}", created.token);
                Ok(())
            }
            AdminCommand::SeedLoad(args) => crosscert::seed_load::cli::run(args),
        },
        Command::Agent(args) => run_agent(args),
        Command::Log { command } => exit_one_unless(crosscert::tlog::cli::run_log(command)?),
        Command::Witness { command } => {
            telemetry::init_tracing(false, "info");
            exit_one_unless(crosscert::tlog::cli::run_witness(
                command,
                crosscert::routes::witness::run,
            )?)
        }
    }
}

fn run_agent(args: crosscert::agent::cli::AgentArgs) -> anyhow::Result<()> {
    if args.command.is_none() {
        telemetry::init_tracing(false, "info");
    }
    crosscert::agent::cli::run(args)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crosscert: {e:#}");
            ExitCode::FAILURE
        }
    }
}
