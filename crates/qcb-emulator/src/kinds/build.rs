//! Completing a resource that a client creates or replaces: the fields the server owns (ID,
//! tenant, timestamps, creator, links) are stamped in, the client's fields are kept as sent.

use serde_json::{json, Map, Value};

use super::{BuildCtx, KindSpec};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};

impl BuildCtx<'_> {
    /// Whether this build completes a replace or patch rather than a create.
    pub fn is_update(&self) -> bool {
        self.previous.is_some()
    }

    /// On a replace or patch, puts back `fields` as they were: what the service writes itself
    /// (tokens, counters, generated IDs) survives a write that cannot set it.
    pub fn keep_previous(&self, obj: &mut Map<String, Value>, fields: &[&str]) {
        let Some(previous) = &self.previous else {
            return;
        };
        for f in fields {
            if let Some(v) = previous.get(*f) {
                obj.insert((*f).to_string(), v.clone());
            }
        }
    }
}

/// A field the server fills in.
#[derive(Debug, Clone, Copy)]
pub enum Stamp {
    /// The creation time; kept on updates.
    Created(&'static str),
    /// The time of the last write.
    Updated(&'static str),
    /// The tenant ID.
    Tenant(&'static str),
    /// The calling user, set on create and kept on updates.
    Creator(&'static str),
    /// The calling user, on every write.
    Updater(&'static str),
    /// The calling user unless the body names one.
    OwnerUnlessGiven(&'static str),
    /// The parent resource's ID (nested kinds).
    Parent(&'static str),
    /// `links.self.href` to the resource.
    SelfLink,
    /// A constant unless the body has the field.
    Default(&'static str, &'static str),
}

pub fn body_object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::bad_request(format!(
            "request body must be a JSON object, got {}",
            type_name(&other)
        ))),
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Applies the stamps of a kind to a new resource.
pub fn stamp_new(ctx: &BuildCtx<'_>, stamps: &[Stamp], obj: &mut Map<String, Value>) {
    let now = json!(rfc3339(ctx.now));
    obj.insert(ctx.kind.id_field.to_string(), json!(ctx.id));
    for s in stamps {
        match *s {
            Stamp::Created(f) | Stamp::Updated(f) => {
                obj.insert(f.into(), now.clone());
            }
            Stamp::Tenant(f) => {
                obj.insert(f.into(), json!(ctx.state.tenant_id));
            }
            Stamp::Creator(f) | Stamp::Updater(f) => {
                obj.insert(f.into(), json!(ctx.principal.user_id));
            }
            Stamp::OwnerUnlessGiven(f) => {
                if obj.get(f).and_then(Value::as_str).is_none_or(str::is_empty) {
                    obj.insert(f.into(), json!(ctx.principal.user_id));
                }
            }
            Stamp::Parent(f) => {
                if let Some(p) = &ctx.parent_id {
                    obj.insert(f.into(), json!(p));
                }
            }
            Stamp::SelfLink => {
                obj.insert("links".into(), json!({"self": {"href": self_href(ctx.kind, &ctx.tenant_url, ctx.parent_id.as_deref(), &ctx.id)}}));
            }
            Stamp::Default(f, v) => {
                if !obj.contains_key(f) {
                    obj.insert(f.into(), serde_json::from_str(v).unwrap_or(Value::Null));
                }
            }
        }
    }
}

/// Applies the stamps of a kind to a replaced or patched resource, keeping what the server owns.
pub fn stamp_update(
    kind: &KindSpec,
    stamps: &[Stamp],
    old: &Value,
    new: &mut Map<String, Value>,
    user: &str,
    now: &str,
) {
    if let Some(id) = old.get(kind.id_field) {
        new.insert(kind.id_field.into(), id.clone());
    }
    for s in stamps {
        match *s {
            Stamp::Created(f) | Stamp::Tenant(f) | Stamp::Creator(f) | Stamp::Parent(f) => {
                if let Some(v) = old.get(f) {
                    new.insert(f.into(), v.clone());
                }
            }
            Stamp::Updated(f) => {
                new.insert(f.into(), json!(now));
            }
            Stamp::Updater(f) => {
                new.insert(f.into(), json!(user));
            }
            Stamp::OwnerUnlessGiven(f) | Stamp::Default(f, _) => {
                if !new.contains_key(f) {
                    if let Some(v) = old.get(f) {
                        new.insert(f.into(), v.clone());
                    }
                }
            }
            Stamp::SelfLink => {
                if let Some(v) = old.get("links") {
                    new.insert("links".into(), v.clone());
                }
            }
        }
    }
}

pub fn self_href(kind: &KindSpec, tenant_url: &str, parent: Option<&str>, id: &str) -> String {
    let path = kind.item_path.unwrap_or_default();
    let mut out = String::new();
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if seg.starts_with('{') {
            // Nested kinds have the parent's parameter first, then the resource's.
            let is_last = !path.split('/').skip(i + 1).any(|s| s.starts_with('{'));
            out.push_str(if is_last {
                id
            } else {
                parent.unwrap_or_default()
            });
        } else {
            out.push_str(seg);
        }
    }
    format!("{}{}", tenant_url.trim_end_matches('/'), out)
}
