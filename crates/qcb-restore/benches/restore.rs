//! A full restore of the `large` emulated tenant into an empty one, measured against Qlik's
//! rate limits.
//!
//! Tenant A (`large`: 1842 apps, 2000 users, 200 spaces, …) is backed up with rate limits off
//! (the backup is not what is measured). Tenant B starts empty, at time scale 60 with Qlik's
//! rate limits on, and one client paced at 100% of each tier's budget with a burst of 1, so
//! only pacing decides the pace. The whole restore — reading the snapshot, planning against B,
//! staging the app exports, writing — is timed and divided by the rate-limit lower bound:
//! the largest, over tiers, of the requests B received in that tier ÷ the tier's allowed
//! rate. Target ≤ 1.15. The fidelity of the result (A and B compared kind by kind, IDs mapped)
//! is printed too. It fails only on errors: the ratio is a measurement.
//!
//! `cargo bench -p qcb-restore --bench restore` (`QCB_BENCH_TIME_SCALE` changes the scale)

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;

use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_qlik::tiers::Tiers;
use qcb_qlik::{Budget, ClientOptions, Credentials, TenantClient, TenantUrl};
use qcb_restore::{execute, prepare, ApplyOptions, Outcome, Secrets, Selection, TenantMap};
use secrecy::SecretString;

type BoxError = Box<dyn Error + Send + Sync>;

fn paced_client(e: &Emulator, time_scale: f64, burst: u32) -> Result<TenantClient, BoxError> {
    let (id, secret) = e.tenant().credentials().admin_bot.ok_or("no bot")?;
    Ok(TenantClient::new(
        TenantUrl::parse(&e.url())?,
        Credentials::OAuthClient {
            client_id: id,
            client_secret: SecretString::from(secret),
            scope: None,
        },
        ClientOptions {
            budget: Budget {
                fraction: 1.0,
                burst,
                burst_minutes: 0.0,
                time_scale,
            },
            ..ClientOptions::default()
        },
    )?)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

async fn run() -> Result<(), BoxError> {
    let time_scale: f64 = std::env::var("QCB_BENCH_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60.0);
    let setup = Instant::now();
    let a = Emulator::start(
        EmulatorConfig {
            profile: Profile::Large,
            time_scale: 600.0,
            rate_limits: false,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0",
    )
    .await?;
    let tmp = tempfile::tempdir()?;
    let repo = support::repo(tmp.path());
    let ca = paced_client(&a, 100_000.0, 1000)?;
    let (manifest, snap) = support::back_up(&ca, &repo).await;
    println!(
        "backed up tenant A (large) in {:.1} s: {} items, {} apps",
        setup.elapsed().as_secs_f64(),
        manifest.items.len(),
        manifest.counts.get("apps").map(|c| c.total).unwrap_or(0)
    );

    let b = Emulator::start(
        EmulatorConfig {
            profile: Profile::Empty,
            time_scale,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0",
    )
    .await?;
    let cb = paced_client(&b, time_scale, 1)?;
    // Where the time goes outside the writes: reading the snapshot's documents.
    let t0 = Instant::now();
    let (r2, s2) = (repo.clone(), snap.clone());
    let loaded =
        tokio::task::spawn_blocking(move || qcb_restore::SnapshotData::load(&r2, s2)).await??;
    println!(
        "reading the snapshot's {} documents: {:.2} s",
        loaded.entries.len(),
        t0.elapsed().as_secs_f64()
    );
    drop(loaded);
    b.tenant().reset_counters();
    let started = Instant::now();
    let prepared = prepare(
        &cb,
        repo.clone(),
        snap,
        &Selection::default(),
        &TenantMap::default(),
        "",
    )
    .await?;
    let planned = started.elapsed().as_secs_f64();
    let report = execute(
        &cb,
        repo.clone(),
        prepared,
        &Secrets::default(),
        &ApplyOptions::default(),
        None,
    )
    .await?;
    let wall = started.elapsed().as_secs_f64();

    // Requests per tier, as the tenant counted them.
    let tiers = Tiers::get();
    let mut per_tier: BTreeMap<String, (u32, u64)> = BTreeMap::new();
    for (op, n) in b.tenant().counters().per_operation {
        let Some((method, path)) = op.split_once(' ') else {
            continue;
        };
        if path.starts_with("/oauth") {
            continue;
        }
        let t = tiers.of(method, path);
        per_tier.entry(t.key.clone()).or_insert((t.per_minute, 0)).1 += n;
    }
    println!(
        "\n{:<10} {:>10} {:>10} {:>14}",
        "tier", "limit/min", "requests", "lower bound s"
    );
    let mut bound = 0.0f64;
    for (key, (per_minute, n)) in &per_tier {
        let secs = *n as f64 / (f64::from(*per_minute) / 60.0 * time_scale);
        bound = bound.max(secs);
        println!("{key:<10} {per_minute:>10} {n:>10} {secs:>14.2}");
    }
    let failed = report.count(Outcome::Failed);
    println!(
        "\nrestore of {} items: {}",
        report.results.len(),
        report.totals()
    );
    println!("  plan (read snapshot + target)   {planned:>8.2} s");
    println!("  whole restore                   {wall:>8.2} s");
    println!("  rate-limit lower bound          {bound:>8.2} s");
    println!(
        "  wall / lower bound              {:>8.3}   (target <= 1.15)",
        wall / bound.max(f64::EPSILON)
    );
    println!(
        "  429s from the tenant            {:>8}",
        b.tenant().counters().throttled
    );
    println!(
        "  peak resident memory            {:>8.0} MiB (whole process, backup included)",
        peak_rss_mib()
    );
    for r in report
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .take(10)
    {
        println!("  failed: {} {} ({}): {}", r.kind, r.id, r.name, r.detail);
    }

    // Fidelity: A and B item by item, as the round-trip tests compare them (items matched
    // through the restore's ID map, sub-resources included, a manual step excusing only the
    // fields it names).
    let fid = support::fidelity::compare(&ca, &paced_client(&b, 100_000.0, 1000)?, &report).await;
    println!("\n{}", fid.table());
    let problems = fid.problems();
    println!(
        "{} differences, {} named by a manual step on that item and field; {} not",
        fid.differences.len(),
        fid.differences
            .iter()
            .filter(|d| d.excused_by.is_some())
            .count(),
        problems.len()
    );
    for p in problems.iter().take(10) {
        println!("  {p}");
    }
    a.stop().await?;
    b.stop().await?;
    if failed > 0 {
        return Err(format!("{failed} items failed").into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}
