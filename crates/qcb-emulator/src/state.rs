//! The tenant's data: one ordered collection per component kind, plus what is not a plain
//! document (app content, temporary files, credentials). Held behind one lock by `Tenant`.

use std::collections::HashMap;

use indexmap::IndexMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A document with the order it was created in; list cursors point at `seq`, so paging is
/// stable while resources are created or deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub value: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Collection {
    pub entries: IndexMap<String, Entry>,
}

impl Collection {
    pub fn get(&self, id: &str) -> Option<&Value> {
        self.entries.get(id).map(|e| &e.value)
    }
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.entries.get_mut(id).map(|e| &mut e.value)
    }
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.entries.values().map(|e| &e.value)
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What an app's export holds, so the bytes can be generated on the fly, deterministically.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppContent {
    /// Seeds the incompressible body; changes whenever the app changes.
    pub content_seed: u64,
    /// Size in bytes of the exported file.
    pub size: u64,
    pub script: String,
    /// App objects carried by the export (sheets, stories, bookmarks, master items).
    pub objects: Vec<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TempBody {
    /// An app export, generated when downloaded.
    Export {
        app_name: String,
        header: Vec<u8>,
        content_seed: u64,
        size: u64,
    },
    /// Bytes uploaded by a client.
    Upload { bytes: Vec<u8> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TempContent {
    pub id: String,
    pub filename: String,
    pub owner_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub ready_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub body: TempBody,
}

impl TempContent {
    pub fn size(&self) -> u64 {
        match &self.body {
            TempBody::Export { header, size, .. } => header.len() as u64 + size,
            TempBody::Upload { bytes } => bytes.len() as u64,
        }
    }
}

/// A machine-to-machine OAuth client that can ask `/oauth/token` for tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct M2mClient {
    pub client_id: String,
    pub client_secret: String,
    /// The bot user the tokens act as.
    pub user_id: String,
    pub scopes: Vec<String>,
    /// Whether the client may use user impersonation.
    pub impersonation: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessToken {
    pub user_id: String,
    pub scopes: Vec<String>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    pub tenant_id: String,
    pub kinds: HashMap<String, Collection>,
    pub app_content: HashMap<String, AppContent>,
    /// Files that belong to resources: theme and extension zips, brand files, report templates,
    /// keyed `<kind>/<id>[/<file>]`.
    #[serde(default)]
    pub blobs: HashMap<String, Vec<u8>>,
    #[serde(skip)]
    pub temp_contents: HashMap<String, TempContent>,
    /// API key → user id.
    pub api_keys: HashMap<String, String>,
    pub m2m_clients: HashMap<String, M2mClient>,
    #[serde(skip)]
    pub tokens: HashMap<String, AccessToken>,
    pub next_seq: u64,
    pub rng: ChaCha8Rng,
}

impl State {
    pub fn new(seed: u64) -> State {
        State {
            tenant_id: String::new(),
            kinds: HashMap::new(),
            app_content: HashMap::new(),
            blobs: HashMap::new(),
            temp_contents: HashMap::new(),
            api_keys: HashMap::new(),
            m2m_clients: HashMap::new(),
            tokens: HashMap::new(),
            next_seq: 1,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5143_4221),
        }
    }

    pub fn collection(&self, kind: &str) -> Option<&Collection> {
        self.kinds.get(kind)
    }

    pub fn collection_mut(&mut self, kind: &str) -> &mut Collection {
        self.kinds.entry(kind.to_string()).or_default()
    }

    pub fn get(&self, kind: &str, id: &str) -> Option<&Value> {
        self.kinds.get(kind).and_then(|c| c.get(id))
    }

    pub fn get_mut(&mut self, kind: &str, id: &str) -> Option<&mut Value> {
        self.kinds.get_mut(kind).and_then(|c| c.get_mut(id))
    }

    pub fn values(&self, kind: &str) -> impl Iterator<Item = &Value> {
        self.kinds.get(kind).into_iter().flat_map(|c| c.values())
    }

    pub fn insert(&mut self, kind: &str, id: &str, value: Value) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let coll = self.collection_mut(kind);
        match coll.entries.get_mut(id) {
            Some(e) => e.value = value,
            None => {
                coll.entries.insert(id.to_string(), Entry { seq, value });
            }
        }
    }

    pub fn remove(&mut self, kind: &str, id: &str) -> Option<Value> {
        self.kinds
            .get_mut(kind)
            .and_then(|c| c.entries.shift_remove(id))
            .map(|e| e.value)
    }

    pub fn new_id(&mut self, style: IdStyle) -> String {
        new_id(&mut self.rng, style)
    }
}

/// The shapes of IDs Qlik uses: 24-hex object IDs (spaces, items, users), UUIDs (apps,
/// connections, automations), and opaque tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdStyle {
    Hex24,
    Uuid,
    Token,
}

pub fn new_id(rng: &mut impl Rng, style: IdStyle) -> String {
    match style {
        IdStyle::Hex24 => {
            let b: [u8; 12] = rng.random();
            hex::encode(b)
        }
        IdStyle::Uuid => {
            let mut b: [u8; 16] = rng.random();
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let h = hex::encode(b);
            format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        }
        IdStyle::Token => {
            let b: [u8; 24] = rng.random();
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
        }
    }
}
