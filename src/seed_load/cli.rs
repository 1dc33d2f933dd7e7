//! `crosscert admin seed-load`: the command line around [`seed`](super::seed): loads the
//! settings, catalog and keys, prints progress (one line rewritten on a terminal, a line per
//! tenth otherwise) and the summary.

use super::{seed, JobsContext, Progress, SeedContext, SeedPlan};
use crate::{config, storage};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args)]
pub struct SeedLoadArgs {
    /// Database URL (else CROSSCERT_DATABASE_URL, DATABASE_URL, the config file, sqlite://data/crosscert.db)
    #[arg(long)]
    database_url: Option<String>,
    /// TOML configuration file
    #[arg(long)]
    config: Option<PathBuf>,
    /// Licence versions to add
    #[arg(long)]
    licences: u64,
    /// Print jobs to queue (each for a valid seeded licence)
    #[arg(long, default_value_t = 0)]
    jobs: u64,
    /// Signing threads (default: the number of cores)
    #[arg(long)]
    threads: Option<usize>,
    /// Random seed, for a repeatable plan
    #[arg(long)]
    seed: Option<u64>,
    /// Write a uniform sample of the seeded licences' QR texts here, one a line after the
    /// status a verifier must see and a tab
    #[arg(long)]
    codes_out: Option<PathBuf>,
    /// How many QR texts --codes-out writes
    #[arg(long, default_value_t = 10_000)]
    codes: usize,
    /// Seal with a key set that is not the example set (refused otherwise: load data sealed
    /// with real keys would be genuine-looking licences)
    #[arg(long)]
    allow_real_keys: bool,
}

pub fn run(args: SeedLoadArgs) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    let overrides = config::Overrides {
        database_url: args.database_url.clone(),
        bind: None,
    };
    let settings = config::Settings::load(args.config.as_deref(), &overrides)?;
    let catalog = crate::catalog::Catalog::load(&settings.templates_dir)?;
    let keys = crate::issuance::KeySet::load_with(
        &settings.keys_dir,
        crate::issuance::KeyAccess::Open {
            pkcs11: settings.pkcs11.as_ref(),
        },
    )?;
    if !keys.is_example() && !args.allow_real_keys {
        anyhow::bail!(
            "the key set in {} is not the example set: load data sealed with it would be genuine-looking licences; pass --allow-real-keys if this database is a throw-away one",
            settings.keys_dir.display()
        );
    }
    let sealer = crate::issuance::Sealer::new(Arc::new(keys));
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let pool = storage::connect(&settings.database_url, threads as u32 + 2)?;
    storage::run_migrations(&pool)?;
    let halls = crate::demo::seed_demo(&pool, chrono::Utc::now())?;
    if halls > 0 {
        eprintln!("demo halls loaded first: {halls}");
    }
    let fonts;
    let pickup_key;
    let jobs_ctx = if args.jobs > 0 {
        fonts = crate::render::Fonts::load(settings.font_dir.as_deref())?;
        pickup_key = crate::distribution::pickup_key::PickupKey::load(
            &settings.pickup_secret_file.clone().unwrap_or_else(|| {
                crate::distribution::pickup_key::PickupKey::path_in(&settings.keys_dir)
            }),
        )?;
        Some(JobsContext {
            fonts: &fonts,
            pickup_key: &pickup_key,
        })
    } else {
        None
    };
    let ctx = SeedContext {
        pool: &pool,
        catalog: &catalog,
        sealer: &sealer,
        public_url: &settings.public_url,
        now: chrono::Utc::now(),
    };
    let plan = SeedPlan {
        licences: args.licences,
        jobs: args.jobs,
        threads,
        seed: args.seed,
        codes_out: args.codes_out.clone(),
        codes: args.codes,
    };
    // A terminal gets one line rewritten in place; a log gets a line per tenth.
    let terminal = std::io::stderr().is_terminal();
    let mut last_tenth = (String::new(), 0u64);
    let mut progress = |p: Progress| {
        let rate = p.done as f64 / p.elapsed.as_secs_f64().max(0.001);
        let line = format!(
            "{}: {}/{} ({:.0}%), {:.0}/s, {:.0} s",
            p.phase,
            p.done,
            p.total,
            100.0 * p.done as f64 / p.total.max(1) as f64,
            rate,
            p.elapsed.as_secs_f64()
        );
        if terminal {
            eprint!("\r{line}   ");
            if p.done >= p.total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        } else {
            let tenth = p.done * 10 / p.total.max(1);
            if last_tenth.0 != p.phase || tenth > last_tenth.1 {
                last_tenth = (p.phase.to_string(), tenth);
                eprintln!("{line}");
            }
        }
    };
    let s = seed(&ctx, &plan, jobs_ctx.as_ref(), &mut progress)?;
    eprintln!(
        "seeded {} licence versions in {:.1} s ({:.0}/s on {threads} signing threads): {} valid, {} revoked, {} suspended, {} superseded; {} log entries (log size {}), {} status list(s); {} print jobs in {:.1} s",
        s.licences,
        s.licence_seconds,
        s.licences as f64 / s.licence_seconds.max(0.001),
        s.valid,
        s.revoked,
        s.suspended,
        s.superseded,
        s.log_entries,
        s.log_size,
        s.status_lists,
        s.jobs,
        s.job_seconds
    );
    if let Some(path) = &args.codes_out {
        eprintln!("QR texts written to {}", path.display());
    }
    Ok(())
}
