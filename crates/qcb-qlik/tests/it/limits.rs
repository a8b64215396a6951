//! The client's rate limits against the emulated tenant's. The tenant holds a 1-minute window
//! here (not Qlik's 5), and each test starts with the client's budget at the tenant already
//! used up (tier 2 at least), so that only the client's pacing keeps it out of 429s: a client
//! that runs over its budget is caught, not absorbed by a full bucket.
//!
//! - within budget: at half the budget, the tenant sees at most half its limits, per tier;
//! - at the full budget, a normal run (list everything, export 50 apps) gets no 429;
//! - a client set faster than the tenant allows is throttled, waits out `Retry-After` for the
//!   whole tier, and still completes every request;
//! - against Qlik's own 5-minute window, the default budget sends a minute's worth at once
//!   and never runs into a 429 however long it keeps at its rate.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_qlik::tiers::Tiers;
use qcb_qlik::{Budget, ClientError, ClientOptions, Credentials, Request, TenantClient, TenantUrl};
use reqwest::Method;
use secrecy::SecretString;

/// The emulated tenant's clock runs this much faster than real time.
const SCALE: f64 = 30.0;

struct Setup {
    emulator: Emulator,
    credentials: Credentials,
    /// The user the admin bot's tokens act as: its budgets at the tenant.
    bot_user: String,
    apps: Vec<String>,
}

/// The `demo` tenant (30 apps) with rate limits over a 1-minute window, and its admin bot.
async fn start() -> Setup {
    start_with(SCALE, 1).await
}

async fn start_with(time_scale: f64, rate_window_minutes: u32) -> Setup {
    let config = EmulatorConfig {
        profile: Profile::Demo,
        time_scale,
        rate_window_minutes,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("starting the emulator");
    let (client_id, secret) = emulator
        .tenant()
        .credentials()
        .admin_bot
        .expect("the demo tenant has an admin bot");
    let bot_user = emulator
        .tenant()
        .read()
        .m2m_clients
        .get(&client_id)
        .map(|c| c.user_id.clone())
        .expect("the admin bot's user");
    let apps = emulator.tenant().ids("apps");
    assert!(!apps.is_empty(), "the demo tenant has apps");
    let credentials = Credentials::OAuthClient {
        client_id,
        client_secret: SecretString::from(secret),
        scope: None,
    };
    Setup {
        emulator,
        credentials,
        bot_user,
        apps,
    }
}

fn client(setup: &Setup, budget: Budget) -> TenantClient {
    let tenant = TenantUrl::parse(&setup.emulator.url()).expect("tenant URL");
    TenantClient::new(
        tenant,
        setup.credentials.clone(),
        ClientOptions {
            budget,
            ..ClientOptions::default()
        },
    )
    .expect("client")
}

/// Uses up the bot's budget of the given tiers at the tenant, as a burst by the tenant's own
/// automations would, then waits until about two requests of tier 2 are allowed again.
async fn exhaust(setup: &Setup, tiers: &[(&str, u32)]) {
    let t = setup.emulator.tenant();
    for (name, per_minute) in tiers {
        let tier = qcb_emulator::tiers::Tier {
            name: name.to_string(),
            per_minute: *per_minute,
        };
        while t
            .limiter
            .admit(&setup.bot_user, name, &tier, t.clock.elapsed())
            .is_ok()
        {}
    }
    // Tier 2 refills at 100/min × 30 = 50 per second.
    tokio::time::sleep(Duration::from_millis(50)).await;
    t.reset_counters();
}

/// Keeps `exporters` tasks exporting apps (tier 2) and `readers` tasks listing spaces
/// (tier 1) as fast as the client lets them until `until`; every request must succeed (an
/// export answers 201).
async fn hammer(
    client: &TenantClient,
    apps: &[String],
    exporters: usize,
    readers: usize,
    until: Instant,
) {
    let mut tasks: Vec<tokio::task::JoinHandle<Result<u64, ClientError>>> = Vec::new();
    for worker in 0..exporters {
        let (client, apps) = (client.clone(), apps.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut sent = 0;
            while Instant::now() < until {
                let app = &apps[(worker + sent as usize * exporters) % apps.len()];
                let resp = client.send(&export(app)).await?;
                assert_eq!(resp.status().as_u16(), 201);
                sent += 1;
            }
            Ok(sent)
        }));
    }
    for _ in 0..readers {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0;
            while Instant::now() < until {
                client.get_json("/api/v1/spaces", "limit=1").await?;
                sent += 1;
            }
            Ok(sent)
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("every request succeeds");
    }
}

/// Requests the tenant received so far, per tier (as the client's table names tiers).
fn tier_counts(tenant: &qcb_emulator::Tenant) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (operation, n) in tenant.counters().per_operation {
        let Some((method, path)) = operation.split_once(' ') else {
            continue;
        };
        if path.starts_with("/api/") {
            *out.entry(Tiers::get().of(method, path).key).or_insert(0) += n;
        }
    }
    out
}

/// The tenant's counts at one moment of a run.
struct Sample {
    /// Seconds since the run started.
    at: f64,
    /// Requests received so far, per tier.
    tiers: BTreeMap<String, u64>,
    /// 429s answered so far.
    throttled: u64,
}

impl Sample {
    fn of(&self, tier: &str) -> u64 {
        self.tiers.get(tier).copied().unwrap_or(0)
    }
}

/// Samples the tenant's counts every 20 ms until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Sample>>,
}

impl Sampler {
    fn start(tenant: Arc<qcb_emulator::Tenant>, since: Instant) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let take = || Sample {
                tiers: tier_counts(&tenant),
                throttled: tenant.counters().throttled,
                at: since.elapsed().as_secs_f64(),
            };
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                samples.push(take());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            samples.push(take());
            samples
        });
        Sampler { stop, task }
    }

    async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("sampler")
    }
}

/// Over every stretch of at least a second between two samples, the tier's requests stay
/// within `per_second` (burst 1), with a little slack for when the samples were taken.
fn assert_within(samples: &[Sample], tier: &str, per_second: f64) {
    let count = |i: usize| samples[i].of(tier) as f64;
    let mut worst = 0.0_f64;
    for i in 0..samples.len() {
        for j in i + 1..samples.len() {
            let span = samples[j].at - samples[i].at;
            if span < 1.0 {
                continue;
            }
            let sent = count(j) - count(i);
            let allowed = per_second * span * 1.05 + 3.0;
            worst = worst.max(sent / (per_second * span));
            assert!(sent <= allowed, "tier {tier}: {sent} requests in {span:.2} s, over the budget of {per_second}/s (at most {allowed:.1})");
        }
    }
    eprintln!(
        "tier {tier}: busiest second-or-longer stretch at {:.0}% of the budget",
        worst * 100.0
    );
}

fn export(app_id: &str) -> Request {
    Request::new(Method::POST, format!("/api/v1/apps/{app_id}/export"))
        .query("NoData=true")
        .idempotent()
}

/// (a) At half the budget, with far more demand than that, the tenant sees at most half its
/// limits in every tier, and never answers 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_stay_within_the_budget() {
    let setup = start().await;
    let fraction = 0.5;
    let client = client(
        &setup,
        Budget {
            fraction,
            burst: 1,
            burst_minutes: 0.0,
            time_scale: SCALE,
        },
    );
    exhaust(&setup, &[("1", 1000), ("2", 100)]).await;
    let budget = |per_minute: f64| per_minute / 60.0 * fraction * SCALE;

    let started = Instant::now();
    let sampler = Sampler::start(setup.emulator.tenant().clone(), started);
    let until = started + Duration::from_secs(3);
    // Tier 2: exports, 6 at a time; tier 1: small GETs, 12 at a time.
    hammer(&client, &setup.apps, 6, 12, until).await;
    let samples = sampler.finish().await;
    let elapsed = started.elapsed().as_secs_f64();

    let totals = samples.last().map(|s| s.tiers.clone()).unwrap_or_default();
    for (tier, per_minute, at_least) in [("1", 1000.0, 0.25), ("2", 100.0, 0.5)] {
        let per_second = budget(per_minute);
        let sent = totals.get(tier).copied().unwrap_or(0) as f64;
        eprintln!(
            "tier {tier}: {sent} requests in {elapsed:.2} s = {:.1}/s, budget {per_second}/s",
            sent / elapsed
        );
        assert!(
            sent <= per_second * elapsed + 1.0,
            "tier {tier}: {sent} requests in {elapsed:.2} s, over {per_second}/s"
        );
        // Demand far exceeded the budget: the pace must be the limiter's, not the test's.
        assert!(
            sent >= per_second * elapsed * at_least,
            "tier {tier}: only {sent} requests in {elapsed:.2} s; the test did not load the tier"
        );
        assert_within(&samples, tier, per_second);
    }
    assert_eq!(
        setup.emulator.tenant().counters().throttled,
        0,
        "the tenant answered 429"
    );
    assert_eq!(client.counters().throttled, 0, "the client saw 429s");
    assert_eq!(client.counters().retries, 0);
}

/// (b) At the full budget, a normal run from an exhausted window — list every kind and export
/// and download 50 apps, all at once — never runs into the tenant's limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_at_the_full_budget_is_never_throttled() {
    let setup = start().await;
    let client = client(
        &setup,
        Budget {
            fraction: 1.0,
            burst: 1,
            burst_minutes: 0.0,
            time_scale: SCALE,
        },
    );
    exhaust(&setup, &[("1", 1000), ("2", 100)]).await;

    let started = Instant::now();
    let inventory = {
        let client = client.clone();
        tokio::spawn(async move { qcb_qlik::inventory::inventory(&client).await })
    };
    let exports: Vec<_> = (0..50)
        .map(|i| {
            let (client, app) = (client.clone(), setup.apps[i % setup.apps.len()].clone());
            tokio::spawn(async move {
                let download = client.export_app(&app).await?;
                let mut stream = download.stream;
                let mut read = 0u64;
                while let Some(chunk) = stream.next().await {
                    read += chunk?.len() as u64;
                }
                Ok::<_, ClientError>((download.total, read))
            })
        })
        .collect();
    let mut bytes = 0;
    for task in exports {
        let (total, read) = task
            .await
            .expect("export task")
            .expect("every export downloads");
        assert_eq!(total, Some(read), "the whole file arrives");
        bytes += read;
    }
    let kinds = inventory
        .await
        .expect("inventory task")
        .expect("every kind lists");
    assert!(kinds.len() >= 20, "{kinds:?}");
    let counts = tier_counts(setup.emulator.tenant());
    eprintln!(
        "{} kinds listed, 50 apps ({bytes} bytes) exported in {:.2} s; requests per tier {counts:?}",
        kinds.len(),
        started.elapsed().as_secs_f64()
    );

    assert_eq!(
        setup.emulator.tenant().counters().throttled,
        0,
        "the tenant answered 429"
    );
    assert_eq!(client.counters().throttled, 0, "the client saw 429s");
    assert_eq!(
        counts.get("2").copied(),
        Some(50),
        "one export request per app"
    );
}

/// (c) A client set 4× faster than the tenant allows runs into 429s, then honours
/// `Retry-After` for the whole tier (few 429s, not one per surplus request), leaves other
/// tiers alone, and still completes every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_budget_client_is_throttled_and_still_completes() {
    let setup = start().await;
    let client = client(
        &setup,
        Budget {
            fraction: 1.0,
            burst: 1,
            burst_minutes: 0.0,
            time_scale: SCALE * 4.0,
        },
    );
    // Tier 2 starts used up; tier 1 keeps its window, so it is never throttled.
    exhaust(&setup, &[("2", 100)]).await;

    let started = Instant::now();
    let sampler = Sampler::start(setup.emulator.tenant().clone(), started);
    let exports: Vec<_> = (0..120)
        .map(|i| {
            let (client, app) = (client.clone(), setup.apps[i % setup.apps.len()].clone());
            tokio::spawn(async move {
                let resp = client.send(&export(&app)).await?;
                Ok::<_, ClientError>((resp.status().as_u16(), started.elapsed()))
            })
        })
        .collect();
    let reads: Vec<_> = (0..400)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client.get_json("/api/v1/spaces", "limit=1").await?;
                Ok::<_, ClientError>(started.elapsed())
            })
        })
        .collect();
    let mut tier2_done = Duration::ZERO;
    for task in exports {
        let (status, at) = task
            .await
            .expect("export task")
            .expect("every export completes despite 429s");
        assert_eq!(status, 201);
        tier2_done = tier2_done.max(at);
    }
    let mut tier1_done = Duration::ZERO;
    for task in reads {
        tier1_done = tier1_done.max(
            task.await
                .expect("read task")
                .expect("every read completes"),
        );
    }

    let samples = sampler.finish().await;
    let throttled = setup.emulator.tenant().counters().throttled;
    let api = client.counters();
    eprintln!(
        "tier 2 done at {:.2} s, tier 1 at {:.2} s; {throttled} 429s; client: {} requests, {} retries",
        tier2_done.as_secs_f64(),
        tier1_done.as_secs_f64(),
        api.requests,
        api.retries
    );
    assert!(
        throttled > 0,
        "a client 4× over the limit must be throttled"
    );
    assert_eq!(
        api.throttled, throttled,
        "the client counts every 429 it got"
    );
    assert_eq!(
        api.requests,
        120 + 400 + throttled,
        "each 429 retried once, nothing else"
    );

    // After the first 429 (Retry-After: 1 s), no export is sent for the rest of that second,
    // by any task: the whole tier waits. Requests already under way may still arrive at once.
    let first = samples
        .iter()
        .find(|s| s.throttled > 0)
        .expect("a sample after the first 429");
    let at = |t: f64| samples.iter().find(|s| s.at >= t).map(|s| s.of("2"));
    let (quiet_from, quiet_to) = (at(first.at + 0.2), at(first.at + 0.9));
    assert!(
        quiet_to.is_some(),
        "the run ended within a second of the first 429"
    );
    assert_eq!(
        quiet_from, quiet_to,
        "exports were sent within Retry-After of the 429 at {:.2} s",
        first.at
    );
    // Ignoring Retry-After, the client would send 4 requests for each the tenant admits and get
    // a 429 for 3 of them; waiting it out, only requests already under way meet one.
    assert!(
        throttled < 60,
        "{throttled} 429s for 120 exports: the client did not wait out Retry-After"
    );
    // Tier 2's 429s block tier 2 only.
    assert!(
        tier1_done < tier2_done,
        "tier 1 finished at {tier1_done:?}, after tier 2 at {tier2_done:?}"
    );
}

/// (d) The default budget against Qlik's 5-minute window: a minute of tier 2 goes at once,
/// then the rate holds for several windows' worth of tenant time without a single 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_burst_fits_qlik_s_window() {
    // At 240× a tenant minute lasts 250 ms: tier 2 allows 400 requests a second.
    let scale = 240.0;
    let setup = start_with(scale, 5).await;
    let client = client(
        &setup,
        Budget {
            time_scale: scale,
            ..Budget::default()
        },
    );
    let started = Instant::now();
    // One minute's budget of tier 2 (100 exports), all asked for at once.
    let burst: Vec<_> = (0..100)
        .map(|i| {
            let (client, app) = (client.clone(), setup.apps[i % setup.apps.len()].clone());
            tokio::spawn(async move { client.send(&export(&app)).await.map(|r| r.status()) })
        })
        .collect();
    for task in burst {
        let status = task.await.expect("task").expect("export");
        assert_eq!(status.as_u16(), 201);
    }
    let burst_took = started.elapsed();
    // Paced at the rate, 100 requests would take 250 ms.
    assert!(
        burst_took < Duration::from_millis(200),
        "a minute's budget goes at once, not paced: took {burst_took:?}"
    );
    // Then 6 tenant minutes (1.5 s) at the rate, tier 1 alongside.
    let until = started + Duration::from_millis(1500);
    hammer(&client, &setup.apps, 8, 4, until).await;
    let elapsed = started.elapsed().as_secs_f64();
    let counts = tier_counts(setup.emulator.tenant());
    let tier2 = counts.get("2").copied().unwrap_or(0) as f64;
    eprintln!("{counts:?} in {elapsed:.2} s (burst {burst_took:?})");
    // The rate was held (not just the burst): at least 80% of burst + rate × time.
    assert!(
        tier2 >= 0.8 * (100.0 + 400.0 * (elapsed - burst_took.as_secs_f64())),
        "tier 2 kept its rate: {tier2} in {elapsed:.2} s"
    );
    assert!(
        tier2 <= 100.0 + 400.0 * elapsed + 1.0,
        "never more than a minute's burst above the rate: {tier2} in {elapsed:.2} s"
    );
    assert_eq!(
        setup.emulator.tenant().counters().throttled,
        0,
        "the tenant answered 429"
    );
    assert_eq!(client.counters().throttled, 0, "the client saw 429s");
}
