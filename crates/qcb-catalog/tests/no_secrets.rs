//! Every kind of the catalog, read from an emulated tenant whose every secret contains
//! `QCBSECRET`, as the M2M bot that sees everything: after redaction, no stored document holds
//! a secret. (The apps' own exports are binary and reported, not edited: not checked here.)

use futures::future::try_join_all;
use qcb_catalog::redact::redact;
use qcb_catalog::{all, ComponentKind, Source};
use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_qlik::{ClientOptions, Credentials, Request, TenantClient, TenantUrl};
use secrecy::SecretString;
use serde_json::Value;

async fn bot(e: &Emulator) -> TenantClient {
    let (id, secret) = e.tenant().credentials().admin_bot.expect("an M2M client");
    let creds = Credentials::OAuthClient {
        client_id: id,
        client_secret: SecretString::from(secret),
        scope: None,
    };
    TenantClient::new(
        TenantUrl::parse(&e.url()).expect("url"),
        creds,
        ClientOptions::default(),
    )
    .expect("client")
}

fn fill(path: &str, id: &str) -> String {
    path.replace("{id}", id).replace("{tenantId}", id)
}

/// Every document a backup would store for `kind`, as fetched.
async fn documents(c: &TenantClient, k: &ComponentKind, tenant_id: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    match k.source {
        Source::Singleton { path } => docs.push(
            c.get_json(&fill(path, tenant_id), "")
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", k.name)),
        ),
        Source::List {
            path,
            query,
            property,
        } => {
            docs = c
                .list_all(path, query, property)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", k.name));
            if let Some(Source::List {
                path,
                query,
                property,
            }) = k.legacy
            {
                docs.extend(
                    c.list_all(path, query, property)
                        .await
                        .unwrap_or_else(|e| panic!("{} (legacy): {e}", k.name)),
                );
            }
        }
    }
    let mut out = Vec::new();
    for doc in docs {
        let id = k.id_of(&doc).unwrap_or_default().to_string();
        let mut full = match k.get_one {
            Some(p) if !id.is_empty() => c
                .get_json(&fill(p, &id), "")
                .await
                .unwrap_or_else(|e| panic!("{} {id}: {e}", k.name)),
            _ => doc,
        };
        for sub in k.subs {
            let v = match sub.list {
                Some((query, property)) => Value::Array(
                    c.list_all(&fill(sub.path, &id), query, property)
                        .await
                        .unwrap_or_else(|e| panic!("{} {id} {}: {e}", k.name, sub.name)),
                ),
                None => c
                    .call_json(&Request::get(fill(sub.path, &id)))
                    .await
                    .map(|(_, v)| v)
                    .unwrap_or_else(|e| panic!("{} {id} {}: {e}", k.name, sub.name)),
            };
            full[sub.name] = v;
        }
        out.push(full);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_survives_redaction_in_any_kind() {
    let config = EmulatorConfig {
        profile: Profile::Demo,
        rate_limits: false,
        ..EmulatorConfig::default()
    };
    let e = Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator");
    let c = bot(&e).await;
    let tenant = c.get_json("/api/v1/tenants/me", "").await.expect("tenant");
    let tenant_id = tenant["id"].as_str().expect("tenant id").to_string();
    let per_kind = try_join_all(all().iter().map(|k| {
        let c = c.clone();
        let tenant_id = tenant_id.clone();
        async move { Ok::<_, String>((*k, documents(&c, k, &tenant_id).await)) }
    }))
    .await
    .expect("every kind reads");
    let mut secrets_before = 0;
    let mut redacted_fields = 0;
    for (k, docs) in per_kind {
        for mut doc in docs {
            secrets_before += doc.to_string().matches("QCBSECRET").count();
            redacted_fields += redact(k, &mut doc).len();
            let text = doc.to_string();
            assert!(
                !text.contains("QCBSECRET"),
                "{}: a secret survived redaction in {}",
                k.name,
                text.chars().take(2000).collect::<String>()
            );
        }
    }
    println!(
        "{secrets_before} secrets in the tenant's documents, {redacted_fields} fields redacted"
    );
    assert!(
        secrets_before > 20,
        "the demo tenant carries secrets to find ({secrets_before})"
    );
}
