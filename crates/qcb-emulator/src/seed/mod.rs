//! Seeded tenants. `empty` holds what Qlik creates itself (the admin, default roles, system
//! groups); `demo` a few dozen of everything; `large` the scale of a big customer (1842 apps
//! with a long tail of export sizes, ~2000 users, ~500 connections, …). The same seed gives
//! the same tenant. Every secret-bearing field holds a unique value containing `QCBSECRET`,
//! so tests can prove that none of them reaches a backup.

use chrono::{DateTime, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::config::{EmulatorConfig, Profile};
use crate::server::EmulatorError;
use crate::state::{IdStyle, State};
use crate::tenant::Tenant;

pub mod apps;
pub mod automations;
pub mod config;
pub mod connections;
pub mod content;
pub mod identity;
pub mod spaces;
pub mod tasks;

/// The marker every generated secret contains.
pub const SECRET_MARKER: &str = "QCBSECRET";

/// How many of each thing a profile holds.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub users: usize,
    pub groups: usize,
    pub custom_roles: usize,
    pub spaces: usize,
    pub apps: usize,
    pub data_connections: usize,
    pub automations: usize,
    pub automation_connections: usize,
    pub reload_tasks: usize,
    pub scheduling_tasks: usize,
    pub sharing_tasks: usize,
    pub webhooks: usize,
    pub other: usize,
}

impl Scale {
    pub fn of(profile: Profile) -> Scale {
        match profile {
            Profile::Empty => Scale {
                users: 0,
                groups: 0,
                custom_roles: 0,
                spaces: 0,
                apps: 0,
                data_connections: 0,
                automations: 0,
                automation_connections: 0,
                reload_tasks: 0,
                scheduling_tasks: 0,
                sharing_tasks: 0,
                webhooks: 0,
                other: 0,
            },
            Profile::Demo => Scale {
                users: 24,
                groups: 6,
                custom_roles: 3,
                spaces: 8,
                apps: 30,
                data_connections: 12,
                automations: 8,
                automation_connections: 6,
                reload_tasks: 10,
                scheduling_tasks: 10,
                sharing_tasks: 8,
                webhooks: 5,
                other: 4,
            },
            Profile::Large => Scale {
                users: 2000,
                groups: 100,
                custom_roles: 25,
                spaces: 200,
                apps: 1842,
                data_connections: 500,
                automations: 150,
                automation_connections: 334,
                reload_tasks: 200,
                scheduling_tasks: 200,
                sharing_tasks: 300,
                webhooks: 40,
                other: 30,
            },
        }
    }
}

/// Generation context shared by the kind modules. Later modules refer to what earlier ones made.
pub struct Seeder<'a> {
    pub state: &'a mut State,
    pub rng: ChaCha8Rng,
    pub profile: Profile,
    pub scale: Scale,
    pub url: String,
    /// Generated data is dated relative to this instant (deterministic for a seed).
    pub base_time: DateTime<Utc>,
    pub admin_id: String,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    /// (space id, type).
    pub spaces: Vec<(String, String)>,
    pub apps: Vec<String>,
    secrets: u64,
}

impl Seeder<'_> {
    /// A unique secret value, recognisable by tests.
    pub fn secret(&mut self, what: &str) -> String {
        self.secrets += 1;
        let noise: u32 = self.rng.random();
        format!("{SECRET_MARKER}-{what}-{}-{noise:08x}", self.secrets)
    }

    pub fn id(&mut self, style: IdStyle) -> String {
        crate::state::new_id(&mut self.rng, style)
    }

    /// A time within `days` before the base time.
    pub fn past(&mut self, days: i64) -> DateTime<Utc> {
        let secs = self.rng.random_range(0..(days.max(1) * 86_400));
        self.base_time - chrono::Duration::seconds(secs)
    }

    pub fn pick<'v, T>(&mut self, items: &'v [T]) -> Option<&'v T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.rng.random_range(0..items.len())])
        }
    }

    pub fn user(&mut self) -> String {
        let users = std::mem::take(&mut self.users);
        let u = self
            .pick(&users)
            .cloned()
            .unwrap_or_else(|| self.admin_id.clone());
        self.users = users;
        u
    }

    pub fn space_of(&mut self, kind: &str) -> Option<String> {
        let spaces: Vec<String> = self
            .spaces
            .iter()
            .filter(|(_, t)| t == kind)
            .map(|(id, _)| id.clone())
            .collect();
        self.pick(&spaces).cloned()
    }

    pub fn app(&mut self) -> Option<String> {
        let apps = std::mem::take(&mut self.apps);
        let a = self.pick(&apps).cloned();
        self.apps = apps;
        a
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }

    pub fn insert(&mut self, kind: &str, value: Value) -> String {
        let id_field = crate::kinds::kind(kind).map_or("id", |k| k.id_field);
        let id = value
            .get(id_field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.state.insert(kind, &id, value);
        id
    }
}

/// Builds the tenant: from the state file when it exists, otherwise generated from the seed.
pub fn tenant(config: EmulatorConfig, url: &str) -> Result<Tenant, EmulatorError> {
    if let Some(path) = &config.state_file {
        if path.exists() {
            let err = |reason: String| EmulatorError::StateFile {
                path: path.display().to_string(),
                reason,
            };
            let raw = std::fs::read(path).map_err(|e| err(e.to_string()))?;
            let state: State = serde_json::from_slice(&raw)
                .map_err(|e| err(format!("not an emulator state file: {e}")))?;
            let admin_key = config
                .admin_api_key
                .clone()
                .or_else(|| admin_key_of(&state))
                .ok_or_else(|| err("the state file has no admin API key".into()))?;
            let mut state = state;
            ensure_admin_key(&mut state, &admin_key);
            return Ok(Tenant::new(config, state, admin_key));
        }
    }
    let mut state = State::new(config.seed);
    let admin_key = generate(&mut state, &config, url);
    Ok(Tenant::new(config, state, admin_key))
}

fn admin_key_of(state: &State) -> Option<String> {
    let admin = state
        .values("users")
        .find(|u| crate::auth::has_role(u, "TenantAdmin"))?;
    let admin_id = admin.get("id")?.as_str()?;
    state
        .api_keys
        .iter()
        .find(|(_, u)| u.as_str() == admin_id)
        .map(|(k, _)| k.clone())
}

fn ensure_admin_key(state: &mut State, key: &str) {
    if state.api_keys.contains_key(key) {
        return;
    }
    let admin_id = state
        .values("users")
        .find(|u| crate::auth::has_role(u, "TenantAdmin"))
        .and_then(|u| u.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(admin_id) = admin_id {
        state.api_keys.insert(key.to_string(), admin_id);
    }
}

/// Writes the tenant to its state file, if one is configured.
pub fn save_state(t: &Tenant) -> Result<(), EmulatorError> {
    let Some(path) = &t.config.state_file else {
        return Ok(());
    };
    let err = |reason: String| EmulatorError::StateFile {
        path: path.display().to_string(),
        reason,
    };
    let json = serde_json::to_vec(&*t.read()).map_err(|e| err(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}

fn generate(state: &mut State, config: &EmulatorConfig, url: &str) -> String {
    let base_time = Utc
        .with_ymd_and_hms(2026, 11, 1, 6, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let mut s = Seeder {
        state,
        rng: ChaCha8Rng::seed_from_u64(config.seed),
        profile: config.profile,
        scale: Scale::of(config.profile),
        url: url.to_string(),
        base_time,
        admin_id: String::new(),
        users: Vec::new(),
        groups: Vec::new(),
        spaces: Vec::new(),
        apps: Vec::new(),
        secrets: 0,
    };
    let admin_key = identity::seed_base(&mut s, config.admin_api_key.clone());
    identity::seed(&mut s);
    spaces::seed(&mut s);
    apps::seed(&mut s);
    connections::seed(&mut s);
    content::seed(&mut s);
    automations::seed(&mut s);
    tasks::seed(&mut s);
    config::seed(&mut s);
    admin_key
}
