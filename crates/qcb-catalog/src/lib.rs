//! `qcb-catalog`: what qcb knows about each kind of thing a Qlik Cloud tenant holds — how to
//! list it, what else to fetch for each item (sub-resources, files), which fields are
//! secrets, which IDs it references, and how it can be restored. One module per kind in
//! `kinds/`, all shaped alike: adding a kind is adding a module and a line in `kinds::ALL`.
//!
//! The catalog is data; `redact` applies its secret rules to a document, and `scan` finds
//! secrets hidden in free text (connection strings, scripts, automation blocks).

pub mod kinds;
pub mod redact;
pub mod scan;
pub mod spec;

use serde::Serialize;

/// How a kind comes back (DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Restore {
    /// Posted back as it was.
    Direct,
    /// Posted back, then a person re-enters secrets or updates consumers of a new ID.
    Recreate,
    /// Kept for the record and for diffs; restored by hand from the runbook.
    Reference,
}

/// Where the documents of a kind come from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// A list, paged through `links.next.href`; `property` holds the items (empty: a bare array).
    List {
        path: &'static str,
        query: &'static str,
        property: &'static str,
    },
    /// One document per tenant (`{tenantId}` in the path is filled in).
    Singleton { path: &'static str },
}

/// Something fetched per item: `{id}` in the path is the item's ID.
#[derive(Debug, Clone, Copy)]
pub struct Sub {
    /// Name of the property it is stored under in the item's document (`assignments`).
    pub name: &'static str,
    pub path: &'static str,
    /// A list (with its property) or a single document (`property` = None).
    pub list: Option<(&'static str, &'static str)>,
}

/// A file that belongs to an item (a theme's zip, a report template).
#[derive(Debug, Clone, Copy)]
pub struct FileSpec {
    /// File name suffix in the snapshot (`zip` → `themes/<id>.zip`).
    pub extension: &'static str,
    /// `GET` or `POST` (report templates are downloaded by an action).
    pub method: &'static str,
    pub path: &'static str,
}

/// A secret field, as a JSON pointer in which `*` matches any array index or object key.
/// `when` limits it to array members whose field matches, e.g. automation-connection
/// parameters of `fieldType: password`.
#[derive(Debug, Clone, Copy)]
pub struct Secret {
    pub pointer: &'static str,
    pub when: Option<When>,
}

/// A condition on a sibling field of the secret.
#[derive(Debug, Clone, Copy)]
pub struct When {
    pub sibling: &'static str,
    /// Case-insensitive substrings; any one matches.
    pub contains: &'static [&'static str],
}

pub const fn secret(pointer: &'static str) -> Secret {
    Secret {
        pointer,
        when: None,
    }
}

/// An ID this kind refers to, for restore's remapping and for dependency order.
#[derive(Debug, Clone, Copy)]
pub struct Reference {
    pub pointer: &'static str,
    pub kind: &'static str,
}

pub const fn refers(pointer: &'static str, kind: &'static str) -> Reference {
    Reference { pointer, kind }
}

/// One kind of thing a tenant holds.
#[derive(Debug, Clone, Copy)]
pub struct ComponentKind {
    /// The manifest's name for it (`spaces`, `data-connections`).
    pub name: &'static str,
    /// Folder in the snapshot (`spaces`, `identity/users`, `tenant/settings`).
    pub folder: &'static str,
    pub source: Source,
    /// All items in one file, `<folder>.json` (licence assignments, keyed by subject).
    pub bundle: bool,
    /// The deprecated API of the same kind, read too where both exist.
    pub legacy: Option<Source>,
    pub id_field: &'static str,
    pub name_field: &'static str,
    /// Each item's full document, when the list answers a summary (`{id}` filled in).
    pub get_one: Option<&'static str>,
    /// Where only an item's owner may read it (`get_one`): the JSON pointer of the owner's
    /// user ID in the listed item, so that a read refused to the backup's identity is tried
    /// again as the owner (OAuth user impersonation).
    pub read_as_owner: Option<&'static str>,
    pub subs: &'static [Sub],
    pub files: &'static [FileSpec],
    pub secrets: &'static [Secret],
    /// Free-text fields scanned for credentials; found ones are redacted in place.
    pub scan: &'static [&'static str],
    pub references: &'static [Reference],
    pub restore: Restore,
    /// Why the restore is what it is, for the runbook.
    pub restore_note: &'static str,
    /// JSON pointers whose values together identify an item in any tenant (a space's name
    /// and type, a user's subject), so a restore can tell an existing item from a missing
    /// one. Empty: the name field alone.
    pub match_on: &'static [&'static str],
}

impl ComponentKind {
    pub const fn new(name: &'static str, folder: &'static str, source: Source) -> ComponentKind {
        ComponentKind {
            name,
            folder,
            source,
            bundle: false,
            legacy: None,
            id_field: "id",
            name_field: "name",
            get_one: None,
            read_as_owner: None,
            subs: &[],
            files: &[],
            secrets: &[],
            scan: &[],
            references: &[],
            restore: Restore::Direct,
            restore_note: "",
            match_on: &[],
        }
    }

    pub fn id_of<'v>(&self, doc: &'v serde_json::Value) -> Option<&'v str> {
        doc.get(self.id_field).and_then(serde_json::Value::as_str)
    }
}

pub use kinds::{all, did_you_mean, kind};
