//! Every paging style the specs use, over one ordered list. Cursors are opaque to clients,
//! and point at a resource's creation sequence so that pages stay stable while the tenant
//! changes underneath a listing.

use base64::Engine;
use serde_json::{json, Value};

use crate::config::LinkStyle;
use crate::error::{ApiError, ApiResult};

/// The query parameter that carries the position, per API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `next` / `prev` opaque cursors (items, spaces, users, webhooks, …).
    Next,
    /// `page` opaque cursor (data connections, licences, scheduling tasks, IP policies).
    Page,
    /// `cursor` (automations and their connections).
    Cursor,
    /// `startingAfter` / `endingBefore` resource IDs (web integrations, API keys, brands).
    StartingAfter,
    /// `offset` numbers (ML, some alerting lists).
    Offset,
    /// `skip` numbers (report templates).
    Skip,
    /// The whole list at once (themes, extensions, pinned links).
    None,
}

impl Paging {
    pub fn param(self) -> Option<&'static str> {
        match self {
            Paging::Next => Some("next"),
            Paging::Page => Some("page"),
            Paging::Cursor => Some("cursor"),
            Paging::StartingAfter => Some("startingAfter"),
            Paging::Offset => Some("offset"),
            Paging::Skip => Some("skip"),
            Paging::None => None,
        }
    }
}

/// Limits from the spec of one list operation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub min: usize,
    /// `None`: everything when `limit` is absent (data connections do this).
    pub default: Option<usize>,
    /// `None`: the spec sets no maximum, so any limit is accepted and pages hold at most
    /// `UNDOCUMENTED_PAGE_CAP` items (as a server must stop somewhere).
    pub max: Option<usize>,
}

/// The largest page where a spec documents no maximum (spaces and their assignments/shares).
pub const UNDOCUMENTED_PAGE_CAP: usize = 100;

/// Where links point.
#[derive(Debug, Clone)]
pub struct LinkBase {
    pub tenant_url: String,
    pub style: LinkStyle,
}

impl LinkBase {
    pub fn href(&self, path: &str, query: &[(String, String)]) -> String {
        let base = match self.style {
            LinkStyle::Absolute => format!("{}{}", self.tenant_url.trim_end_matches('/'), path),
            // As in the specs' examples: an internal service host, without the /api prefix.
            LinkStyle::Internal => format!(
                "http://localhost:8787{}",
                path.strip_prefix("/api").unwrap_or(path)
            ),
        };
        if query.is_empty() {
            base
        } else {
            format!(
                "{base}?{}",
                serde_urlencoded::to_string(query).unwrap_or_default()
            )
        }
    }
}

/// One resource in list order.
pub struct Row<'a> {
    pub seq: u64,
    pub id: &'a str,
    /// Borrowed from the store: only the rows of the page served are copied.
    pub value: std::borrow::Cow<'a, Value>,
}

pub struct Page {
    pub items: Vec<Value>,
    pub links: Value,
    /// Items before paging, for `totalResults`/`meta.count`.
    pub total: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    AfterSeq(u64),
    BeforeSeq(u64),
    Offset(usize),
}

fn encode(p: Position) -> String {
    let raw = match p {
        Position::AfterSeq(s) => format!("a{s}"),
        Position::BeforeSeq(s) => format!("b{s}"),
        Position::Offset(o) => format!("o{o}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode(token: &str) -> Option<Position> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (kind, n) = raw.split_at(1);
    match kind {
        "a" => n.parse().ok().map(Position::AfterSeq),
        "b" => n.parse().ok().map(Position::BeforeSeq),
        "o" => n.parse().ok().map(Position::Offset),
        _ => None,
    }
}

pub fn query_value<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn with_param(
    query: &[(String, String)],
    set: &[(&str, String)],
    drop: &[&str],
) -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| !drop.contains(&k.as_str()) && !set.iter().any(|(s, _)| s == k))
        .cloned()
        .collect();
    q.extend(set.iter().map(|(k, v)| (k.to_string(), v.clone())));
    q
}

/// Cuts one page out of `rows` (already filtered and ordered) as the API's paging style says.
pub fn paginate(
    rows: Vec<Row<'_>>,
    query: &[(String, String)],
    style: Paging,
    limits: Limits,
    path: &str,
    base: &LinkBase,
) -> ApiResult<Page> {
    let total = rows.len();
    let limit = match query_value(query, "limit") {
        Some(raw) => {
            let n: i64 = raw.parse().map_err(|_| {
                ApiError::bad_request(format!("limit must be a number, got '{raw}'"))
            })?;
            if n < limits.min as i64 || limits.max.is_some_and(|m| n > m as i64) {
                return Err(ApiError::bad_request(format!(
                    "limit must be between {} and {}, got {n}",
                    limits.min,
                    limits
                        .max
                        .map_or("unbounded".to_string(), |m| m.to_string())
                )));
            }
            Some(n.max(0) as usize)
        }
        None => limits.default,
    };
    let limit = match (style, limit) {
        (Paging::None, _) => None,
        (_, Some(l)) if limits.max.is_none() => Some(l.min(UNDOCUMENTED_PAGE_CAP)),
        (_, l) => l,
    };

    // Where the page starts, as an index into rows.
    let seq_index =
        |pred: &dyn Fn(u64) -> bool| rows.iter().position(|r| pred(r.seq)).unwrap_or(rows.len());
    let bad_cursor =
        |name: &str, v: &str| ApiError::bad_request(format!("invalid {name} cursor '{v}'"));
    let mut start = 0usize;
    let mut end_exclusive: Option<usize> = None;
    match style {
        Paging::Next | Paging::Page | Paging::Cursor => {
            let param = style.param().unwrap_or("next");
            if let Some(tok) = query_value(query, param) {
                match decode(tok).ok_or_else(|| bad_cursor(param, tok))? {
                    Position::AfterSeq(s) => start = seq_index(&|q| q > s),
                    Position::Offset(o) => start = o.min(rows.len()),
                    Position::BeforeSeq(s) => end_exclusive = Some(seq_index(&|q| q >= s)),
                }
            } else if let Some(tok) = query_value(query, "prev") {
                match decode(tok).ok_or_else(|| bad_cursor("prev", tok))? {
                    Position::BeforeSeq(s) => end_exclusive = Some(seq_index(&|q| q >= s)),
                    Position::Offset(o) => end_exclusive = Some(o.min(rows.len())),
                    Position::AfterSeq(s) => start = seq_index(&|q| q > s),
                }
            }
        }
        Paging::StartingAfter => {
            if let Some(id) = query_value(query, "startingAfter") {
                let i = rows
                    .iter()
                    .position(|r| r.id == id)
                    .ok_or_else(|| bad_cursor("startingAfter", id))?;
                start = i + 1;
            } else if let Some(id) = query_value(query, "endingBefore") {
                let i = rows
                    .iter()
                    .position(|r| r.id == id)
                    .ok_or_else(|| bad_cursor("endingBefore", id))?;
                end_exclusive = Some(i);
            }
        }
        Paging::Offset | Paging::Skip | Paging::None => {}
    }
    for numeric in ["offset", "skip"] {
        if let Some(raw) = query_value(query, numeric) {
            let n: usize = raw.parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "{numeric} must be a non-negative number, got '{raw}'"
                ))
            })?;
            start = n.min(rows.len());
        }
    }
    if let (Some(end), Some(limit)) = (end_exclusive, limit) {
        start = end.saturating_sub(limit);
    }
    let end = match (end_exclusive, limit) {
        (Some(e), _) => e,
        (None, Some(l)) => (start + l).min(rows.len()),
        (None, None) => rows.len(),
    };
    let start = start.min(end);
    let has_next = end < rows.len();
    let has_prev = start > 0;
    let sorted = query_value(query, "sort").is_some();

    let mut links = serde_json::Map::new();
    links.insert("self".into(), json!({"href": base.href(path, query)}));
    let cursor_params = [
        "next",
        "prev",
        "page",
        "cursor",
        "startingAfter",
        "endingBefore",
        "offset",
        "skip",
    ];
    if style != Paging::None {
        if has_next {
            let next = match style {
                Paging::Next | Paging::Page | Paging::Cursor => {
                    let pos = if sorted {
                        Position::Offset(end)
                    } else {
                        Position::AfterSeq(rows[end - 1].seq)
                    };
                    vec![(style.param().unwrap_or("next"), encode(pos))]
                }
                Paging::StartingAfter => vec![("startingAfter", rows[end - 1].id.to_string())],
                Paging::Offset => vec![("offset", end.to_string())],
                Paging::Skip => vec![("skip", end.to_string())],
                Paging::None => vec![],
            };
            let mut set = next;
            if let Some(l) = limit {
                set.push(("limit", l.to_string()));
            }
            links.insert(
                "next".into(),
                json!({"href": base.href(path, &with_param(query, &set, &cursor_params))}),
            );
        }
        if has_prev {
            let prev = match style {
                Paging::Next | Paging::Page | Paging::Cursor => {
                    let pos = if sorted {
                        Position::Offset(start)
                    } else {
                        Position::BeforeSeq(rows[start].seq)
                    };
                    vec![("prev", encode(pos))]
                }
                Paging::StartingAfter => vec![("endingBefore", rows[start].id.to_string())],
                Paging::Offset => vec![(
                    "offset",
                    start.saturating_sub(limit.unwrap_or(start)).to_string(),
                )],
                Paging::Skip => vec![(
                    "skip",
                    start.saturating_sub(limit.unwrap_or(start)).to_string(),
                )],
                Paging::None => vec![],
            };
            let mut set = prev;
            if let Some(l) = limit {
                set.push(("limit", l.to_string()));
            }
            links.insert(
                "prev".into(),
                json!({"href": base.href(path, &with_param(query, &set, &cursor_params))}),
            );
        }
    }
    let items = rows
        .into_iter()
        .skip(start)
        .take(end - start)
        .map(|r| r.value.into_owned())
        .collect();
    Ok(Page {
        items,
        links: Value::Object(links),
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rows(n: usize) -> Vec<(u64, String)> {
        (0..n)
            .map(|i| (i as u64 * 3 + 1, format!("id{i}")))
            .collect()
    }

    fn base() -> LinkBase {
        LinkBase {
            tenant_url: "http://127.0.0.1:1".into(),
            style: LinkStyle::Absolute,
        }
    }

    /// Follows `links.next.href` by its query string, as a client would.
    fn walk(n: usize, style: Paging, limit: usize) -> Vec<String> {
        let data = rows(n);
        let mut query = vec![("limit".to_string(), limit.to_string())];
        let mut seen = Vec::new();
        for _ in 0..(n + 2) {
            let r = data
                .iter()
                .map(|(s, id)| Row {
                    seq: *s,
                    id,
                    value: std::borrow::Cow::Owned(json!(id)),
                })
                .collect();
            let page = paginate(
                r,
                &query,
                style,
                Limits {
                    min: 1,
                    default: Some(10),
                    max: Some(100),
                },
                "/api/v1/x",
                &base(),
            )
            .unwrap();
            seen.extend(page.items.iter().map(|v| v.as_str().unwrap().to_string()));
            let Some(href) = page.links.pointer("/next/href").and_then(Value::as_str) else {
                return seen;
            };
            let url = url::Url::parse(href).unwrap();
            query = url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        }
        panic!("paging did not end");
    }

    proptest! {
        #[test]
        fn every_item_exactly_once(n in 0usize..250, limit in 1usize..100, style_i in 0usize..6) {
            let style = [Paging::Next, Paging::Page, Paging::Cursor, Paging::StartingAfter, Paging::Offset, Paging::Skip][style_i];
            let seen = walk(n, style, limit);
            let expected: Vec<String> = rows(n).into_iter().map(|(_, id)| id).collect();
            prop_assert_eq!(seen, expected);
        }
    }

    #[test]
    fn limit_out_of_range_is_rejected() {
        let q = vec![("limit".to_string(), "101".to_string())];
        let err = paginate(
            vec![],
            &q,
            Paging::Next,
            Limits {
                min: 1,
                default: Some(10),
                max: Some(100),
            },
            "/x",
            &base(),
        )
        .err()
        .unwrap();
        assert_eq!(err.status, 400);
    }

    #[test]
    fn prev_link_walks_back() {
        let data = rows(25);
        let mk = || {
            data.iter()
                .map(|(s, id)| Row {
                    seq: *s,
                    id,
                    value: std::borrow::Cow::Owned(json!(id)),
                })
                .collect::<Vec<_>>()
        };
        let lim = Limits {
            min: 1,
            default: Some(10),
            max: Some(100),
        };
        let p1 = paginate(mk(), &[], Paging::Next, lim, "/x", &base()).unwrap();
        let next: Vec<(String, String)> =
            url::Url::parse(p1.links["next"]["href"].as_str().unwrap())
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect();
        let p2 = paginate(mk(), &next, Paging::Next, lim, "/x", &base()).unwrap();
        assert_eq!(p2.items[0], json!("id10"));
        let prev: Vec<(String, String)> =
            url::Url::parse(p2.links["prev"]["href"].as_str().unwrap())
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect();
        let back = paginate(mk(), &prev, Paging::Next, lim, "/x", &base()).unwrap();
        assert_eq!(back.items, p1.items);
    }

    #[test]
    fn internal_links_use_internal_host() {
        let b = LinkBase {
            tenant_url: "http://127.0.0.1:9".into(),
            style: LinkStyle::Internal,
        };
        assert_eq!(
            b.href("/api/v1/items", &[("limit".into(), "5".into())]),
            "http://localhost:8787/v1/items?limit=5"
        );
    }
}
