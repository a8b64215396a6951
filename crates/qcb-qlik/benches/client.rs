//! How close a backup-shaped workload gets to Qlik's rate-limit lower bound.
//!
//! Starts the `large` emulated tenant at time scale 60 (Qlik's 5-minute rate windows kept), and
//! one client paced at 100% of each tier's budget with a burst of 1, so that only the client's
//! pacing, and not the tenant's burst allowance, decides the pace. In one run, concurrently, the
//! client lists every kind the inventory knows and exports and fully downloads N apps (200; 20
//! with `--quick` or `QCB_BENCH_QUICK=1`; `QCB_BENCH_APPS=N` to choose). It reports the wall
//! time, the requests of each tier (the tenant's per-operation counts, mapped to tiers by the
//! client's own table), the rate-limit lower bound (max over tiers of requests ÷ allowed rate),
//! their ratio, the bytes downloaded and the 429s. It fails only on errors: the ratio is a
//! measurement. `QCB_BENCH_TIME_SCALE` changes the time scale (60): at lower scales the client's
//! pacing periods are longer and timer granularity matters less.
//!
//! `cargo bench -p qcb-qlik --bench client [-- --quick]`

use std::collections::BTreeMap;
use std::error::Error;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_qlik::tiers::Tiers;
use qcb_qlik::{Budget, ClientOptions, Credentials, TenantClient, TenantUrl};
use secrecy::SecretString;

type BoxError = Box<dyn Error + Send + Sync>;

struct Settings {
    apps: usize,
    quick: bool,
    /// The tenant's clock runs this much faster than real time, and the client's budget with it.
    time_scale: f64,
}

impl Settings {
    fn from_env() -> Result<Settings, BoxError> {
        let quick = std::env::args().any(|a| a == "--quick")
            || std::env::var("QCB_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let apps = match std::env::var("QCB_BENCH_APPS") {
            Ok(v) => v
                .parse()
                .map_err(|_| format!("QCB_BENCH_APPS must be a number, got '{v}'"))?,
            Err(_) if quick => 20,
            Err(_) => 200,
        };
        let time_scale = match std::env::var("QCB_BENCH_TIME_SCALE") {
            Ok(v) => v
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .ok_or_else(|| {
                    format!("QCB_BENCH_TIME_SCALE must be a positive number, got '{v}'")
                })?,
            Err(_) => 60.0,
        };
        Ok(Settings {
            apps,
            quick,
            time_scale,
        })
    }
}

/// Requests of one tier during the run.
struct TierUse {
    per_minute: u32,
    requests: u64,
    /// Seconds from the start to the tier's last request (sampled every 5 ms).
    last_at: f64,
}

struct Report {
    apps: usize,
    kinds: usize,
    items_listed: usize,
    wall: Duration,
    inventory_done: Duration,
    exports_done: Duration,
    bytes: u64,
    largest_app: u64,
    tiers: BTreeMap<String, TierUse>,
    emulator_throttled: u64,
    client: qcb_qlik::ApiCounters,
    emulator_requests: u64,
    setup: Duration,
}

fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&settings)) {
        Ok(report) => {
            print_report(&settings, &report);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Exports one app and reads its whole file; answers the bytes read.
async fn export_and_download(client: TenantClient, app_id: String) -> Result<u64, BoxError> {
    let download = client.export_app(&app_id).await?;
    let mut stream = download.stream;
    let mut read = 0u64;
    while let Some(chunk) = stream.next().await {
        read += chunk?.len() as u64;
    }
    match download.total {
        Some(total) if total != read => {
            Err(format!("app {app_id}: downloaded {read} of {total} bytes").into())
        }
        _ => Ok(read),
    }
}

async fn run(settings: &Settings) -> Result<Report, BoxError> {
    let setup_started = Instant::now();
    let config = EmulatorConfig {
        profile: Profile::Large,
        time_scale: settings.time_scale,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config, "127.0.0.1:0").await?;
    let (client_id, secret) = emulator
        .tenant()
        .credentials()
        .admin_bot
        .ok_or("the large tenant has no admin bot")?;
    let credentials = Credentials::OAuthClient {
        client_id,
        client_secret: SecretString::from(secret),
        scope: None,
    };
    let tenant = TenantUrl::parse(&emulator.url())?;
    let options = ClientOptions {
        budget: Budget {
            fraction: 1.0,
            burst: 1,
            burst_minutes: 0.0,
            time_scale: settings.time_scale,
        },
        ..ClientOptions::default()
    };

    // The apps to export, chosen before the run by a client of their own.
    let chooser = TenantClient::new(tenant.clone(), credentials.clone(), options.clone())?;
    let mut apps: Vec<String> = Vec::with_capacity(settings.apps);
    let mut pages = chooser.pages("/api/v1/items", "resourceType=app&limit=100", "data");
    while apps.len() < settings.apps {
        let Some(page) = pages.next().await else {
            break;
        };
        apps.extend(
            page?
                .iter()
                .filter_map(|item| item["resourceId"].as_str())
                .map(str::to_string),
        );
    }
    drop(pages);
    apps.truncate(settings.apps);
    if apps.len() < settings.apps {
        return Err(format!(
            "the tenant lists {} apps, fewer than the {} asked for",
            apps.len(),
            settings.apps
        )
        .into());
    }
    // The chooser's few requests fit in the tenant's 5-minute window; only the run is counted.
    emulator.tenant().reset_counters();
    let setup = setup_started.elapsed();

    let client = TenantClient::new(tenant, credentials, options)?;
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let tenant = emulator.tenant().clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            // (seconds since start, requests of each tier so far), every few milliseconds.
            let mut samples: Vec<(f64, BTreeMap<String, u64>)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let mut per_tier = BTreeMap::new();
                for (operation, n) in tenant.counters().per_operation {
                    if let Some((method, path)) = operation
                        .split_once(' ')
                        .filter(|(_, p)| p.starts_with("/api/"))
                    {
                        *per_tier
                            .entry(Tiers::get().of(method, path).key)
                            .or_insert(0u64) += n;
                    }
                }
                samples.push((started.elapsed().as_secs_f64(), per_tier));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            samples
        })
    };
    let inventory = {
        let client = client.clone();
        tokio::spawn(async move {
            let listed = qcb_qlik::inventory::inventory(&client).await;
            (listed, started.elapsed())
        })
    };
    let exports: Vec<_> = apps
        .iter()
        .map(|id| tokio::spawn(export_and_download(client.clone(), id.clone())))
        .collect();

    let mut bytes = 0u64;
    let mut largest_app = 0u64;
    let mut failures: Vec<String> = Vec::new();
    for (id, handle) in apps.iter().zip(exports) {
        match handle.await {
            Ok(Ok(n)) => {
                bytes += n;
                largest_app = largest_app.max(n);
            }
            Ok(Err(e)) => failures.push(format!("app {id}: {e}")),
            Err(e) => failures.push(format!("app {id}: the task failed: {e}")),
        }
    }
    let exports_done = started.elapsed();
    let (listed, inventory_done) = inventory
        .await
        .map_err(|e| format!("the inventory task failed: {e}"))?;
    let wall = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let samples = sampler
        .await
        .map_err(|e| format!("the sampler task failed: {e}"))?;
    let listed: Vec<(String, usize)> = match listed {
        Ok(l) => l,
        Err(e) => {
            failures.push(format!("inventory: {e}"));
            Vec::new()
        }
    };
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(10).map(String::as_str).collect();
        return Err(format!(
            "{} of the run's tasks failed:\n  {}",
            failures.len(),
            shown.join("\n  ")
        )
        .into());
    }

    let counters = emulator.tenant().counters();
    let mut tiers: BTreeMap<String, TierUse> = BTreeMap::new();
    let mut emulator_requests = 0;
    for (operation, n) in &counters.per_operation {
        let Some((method, path)) = operation.split_once(' ') else {
            continue;
        };
        // The token endpoint and anything outside /api has no rate limit.
        if !path.starts_with("/api/") {
            continue;
        }
        emulator_requests += n;
        let tier = Tiers::get().of(method, path);
        tiers
            .entry(tier.key)
            .or_insert(TierUse {
                per_minute: tier.per_minute,
                requests: 0,
                last_at: 0.0,
            })
            .requests += n;
    }
    for (key, t) in tiers.iter_mut() {
        // The first sample that saw the tier's final count: when its last request arrived.
        t.last_at = samples
            .iter()
            .find(|(_, seen)| seen.get(key).copied().unwrap_or(0) >= t.requests)
            .map_or(wall.as_secs_f64(), |(at, _)| *at);
    }
    let report = Report {
        apps: apps.len(),
        kinds: listed.len(),
        items_listed: listed.iter().map(|(_, n)| n).sum(),
        wall,
        inventory_done,
        exports_done,
        bytes,
        largest_app,
        tiers,
        emulator_throttled: counters.throttled,
        client: client.counters(),
        emulator_requests,
        setup,
    };
    emulator.stop().await?;
    Ok(report)
}

fn allowed_per_second(per_minute: u32, time_scale: f64) -> f64 {
    f64::from(per_minute) / 60.0 * time_scale
}

fn print_report(settings: &Settings, r: &Report) {
    let wall = r.wall.as_secs_f64();
    let (bound_tier, bound) = r
        .tiers
        .iter()
        .map(|(key, t)| {
            (
                key.as_str(),
                t.requests as f64 / allowed_per_second(t.per_minute, settings.time_scale),
            )
        })
        .fold(
            ("-", 0.0_f64),
            |best, cur| if cur.1 > best.1 { cur } else { best },
        );
    let mb = r.bytes as f64 / 1e6;
    println!();
    println!(
        "qcb-qlik client benchmark{}",
        if settings.quick { " (quick)" } else { "" }
    );
    println!(
        "  tenant: emulated `large`, time scale {}, 5-minute rate windows; setup {:.2} s",
        settings.time_scale,
        r.setup.as_secs_f64()
    );
    println!("  client: admin bot (OAuth M2M), budget 100% of every tier, burst 1");
    println!(
        "  work:   list {} kinds ({} items) + export and download {} apps, all concurrently",
        r.kinds, r.items_listed, r.apps
    );
    println!();
    println!(
        "  {:<8} {:>10} {:>12} {:>10} {:>13} {:>12} {:>10}",
        "tier", "limit/min", "allowed/s", "requests", "lower bound", "last req at", "paced/s"
    );
    for (key, t) in &r.tiers {
        let allowed = allowed_per_second(t.per_minute, settings.time_scale);
        println!(
            "  {:<8} {:>10} {:>12.1} {:>10} {:>11.3} s {:>10.3} s {:>10.1}",
            key,
            t.per_minute,
            allowed,
            t.requests,
            t.requests as f64 / allowed,
            t.last_at,
            t.requests as f64 / t.last_at.max(1e-3)
        );
    }
    println!();
    println!("  {:<34} {:>12.3} s", "wall time", wall);
    println!(
        "  {:<34} {:>12.3} s",
        "  inventory finished at",
        r.inventory_done.as_secs_f64()
    );
    println!(
        "  {:<34} {:>12.3} s",
        "  last download finished at",
        r.exports_done.as_secs_f64()
    );
    println!(
        "  {:<34} {:>12.3} s   (tier {bound_tier})",
        "rate-limit lower bound", bound
    );
    let ratio = if bound > 0.0 { wall / bound } else { f64::NAN };
    println!(
        "  {:<34} {:>12.3}     (target <= 1.05{})",
        "wall / lower bound",
        ratio,
        if ratio <= 1.05 { ", met" } else { ", NOT met" }
    );
    println!(
        "  {:<34} {:>12.1} MB   (largest app {:.1} MB)",
        "downloaded",
        mb,
        r.largest_app as f64 / 1e6
    );
    println!("  {:<34} {:>12.1} MB/s", "throughput", mb / wall);
    println!(
        "  {:<34} {:>12}     (client saw {})",
        "throttled (429) by the tenant", r.emulator_throttled, r.client.throttled
    );
    println!(
        "  {:<34} {:>12}     (tenant counted {}; retries {})",
        "client requests", r.client.requests, r.emulator_requests, r.client.retries
    );
    println!();
}
