//! Exports that take time: the client learns how long and waits about that long before it
//! looks, so an export costs two or three requests for its file instead of one per 100 ms.

use futures::StreamExt;
use qcb_emulator::{Emulator, EmulatorConfig, Profile};

const TEMP_CONTENT: &str = "GET /api/v1/temp-contents/{id}";

/// The demo tenant, its clock `time_scale` times faster.
async fn demo(time_scale: f64) -> Emulator {
    Emulator::start(
        EmulatorConfig {
            profile: Profile::Demo,
            time_scale,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0",
    )
    .await
    .expect("emulator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_of_a_running_export_drop_once_the_client_has_seen_a_few() {
    let e = demo(10.0).await;
    // Paced for the tenant's time scale, as the fault tests' client.
    let client = crate::faults::bot(&e).await;
    let apps = e.tenant().ids("apps");
    assert!(apps.len() >= 12, "{}", apps.len());
    let polls = || {
        e.tenant()
            .counters()
            .per_operation
            .get(TEMP_CONTENT)
            .copied()
            .unwrap_or(0)
    };
    let mut per_export = Vec::new();
    for id in &apps[..12] {
        let before = polls();
        let mut dl = client.export_app(id).await.expect("export");
        while let Some(chunk) = dl.stream.next().await {
            chunk.expect("download");
        }
        per_export.push(polls() - before);
    }
    // Qlik prepares an export for a while (the emulator: 1.5 s and 1 s per 20 MB): the first
    // one is looked at once, then from 500 ms on, growing by half each time (at 0, 0.5, 1.25
    // and 2.4 s); later ones after waiting.
    assert!((3..=5).contains(&per_export[0]), "{per_export:?}");
    let late: u64 = per_export[4..].iter().sum();
    assert!(
        late <= 3 * per_export[4..].len() as u64,
        "no more than three requests per export once learned: {per_export:?}"
    );
    let learned = client.ready_after().expect("learned");
    assert!(
        learned.as_secs_f64() > 0.1 && learned.as_secs_f64() < 0.3,
        "about 1.5 s of the tenant's time at scale 10: {learned:?}"
    );
    // What the manifest keeps for the next run: the top of the last exports' estimate, at
    // least where it stopped and at most half above.
    let carried = client.counters().export_ready_ms.expect("carried");
    let stopped = learned.as_millis() as u64;
    assert!(
        (stopped..=stopped * 3 / 2).contains(&carried),
        "{carried} ms carried, {stopped} ms learned"
    );

    // The next run's client starts from it: its first exports, all at once with nothing to
    // learn from, are neither polled every few milliseconds nor looked at twice.
    let next = crate::faults::bot(&e).await;
    let carried = std::time::Duration::from_millis(carried);
    next.expect_ready_after(carried);
    assert_eq!(next.ready_after(), Some(carried));
    let before = polls();
    let wave = apps[..8].iter().map(|id| {
        let next = next.clone();
        async move {
            let mut dl = next.export_app(id).await.expect("export");
            while let Some(chunk) = dl.stream.next().await {
                chunk.expect("download");
            }
        }
    });
    futures::future::join_all(wave).await;
    assert!(
        polls() - before <= 9,
        "8 exports of a client told the earlier estimate, at once: {} requests for their files",
        polls() - before
    );
    // What a client learns itself is not overwritten.
    client.expect_ready_after(std::time::Duration::from_secs(30));
    assert_eq!(client.ready_after(), Some(learned));
    let _ = e.stop().await;
}

/// A tenant that answers slowly: each answer's latency must not push the estimate up, export
/// after export (it did when the time of the answer was learned rather than the time of the
/// look): exports stay waited for about as long as they take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tenant_does_not_make_the_estimate_climb() {
    let e = demo(60.0).await;
    let client = crate::faults::bot(&e).await;
    e.tenant().set_faults(qcb_emulator::Faults {
        response_delay_ms: 10,
        ..Default::default()
    });
    let apps = e.tenant().ids("apps");
    for id in apps.iter().cycle().take(40) {
        let mut dl = client.export_app(id).await.expect("export");
        while let Some(chunk) = dl.stream.next().await {
            chunk.expect("download");
        }
    }
    // The emulator's exports take 1.5 s of its time (25 ms here) and a few ms per MB.
    let learned = client.ready_after().expect("learned");
    eprintln!("learned {learned:?}");
    assert!(
        learned.as_millis() < 60,
        "the estimate stays near the exports' 25 ms: {learned:?}"
    );
    let _ = e.stop().await;
}
