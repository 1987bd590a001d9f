//! Properties 19-21: the query module, checked through the items API and `/metrics` that the
//! target publishes in `query` (`spec/http-contract.md`, "Items"). An item needs an access
//! token: [`ItemsApi`] mints one where the conformance mint hook exists, and otherwise
//! registers and logs in a fresh account. Both come with the conformance profile (the auth
//! area's checks need it), so these checks do too (`spec/properties.toml`).

pub mod p19_sql_injection;
pub mod p20_pool_reuse;
pub mod p21_query_error_structure;

use std::collections::BTreeMap;

use http::Method;
use serde_json::{Value, json};

use crate::cases::CaseFailure;
use crate::check::{CheckOutcome, NOT_CONFORMANCE};
use crate::checks::auth::{self, AuthApi, AuthArea};
use crate::checks::support::{Observer, unique_scope};
use crate::clause::query as qc;
use crate::http::{Exchange, RequestSpec};
use crate::target::Target;

/// What the target publishes in `query`.
#[derive(Debug, Clone)]
pub struct QueryArea {
    /// The items API.
    pub items: String,
    /// The pool's maximum size.
    pub pool_size: u64,
    /// The largest page.
    pub max_page: u64,
    /// `/metrics`, when served.
    pub metrics: Option<String>,
    /// The database behind the items (`postgres`, `sqlite` or `other`).
    pub backend: Option<String>,
}

/// The `query` area of `target`, or why the checks cannot run.
pub fn area(target: &Target) -> Result<QueryArea, CheckOutcome> {
    let d = target.discovery();
    if !d.offers("query") {
        return Err(CheckOutcome::NotVerified(
            "the target publishes no query member".into(),
        ));
    }
    let raw = d.raw.get("query").cloned().unwrap_or(Value::Null);
    let items = raw.get("items").and_then(Value::as_str).map(str::to_owned);
    let pool_size = raw.get("pool_size").and_then(Value::as_u64);
    let max_page = raw.get("max_page").and_then(Value::as_u64);
    let metrics = raw
        .get("metrics")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let backend = raw
        .get("backend")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match (items, pool_size, max_page) {
        (Some(items), Some(pool_size), Some(max_page)) if pool_size >= 1 && max_page >= 1 => {
            Ok(QueryArea {
                items,
                pool_size,
                max_page,
                metrics,
                backend,
            })
        }
        _ => Err(CheckOutcome::SetupFailed(CaseFailure::plain(
            "a query member with items, pool_size and max_page (spec/discovery.md)",
            format!("{raw}"),
        ))),
    }
}

/// An account the checks act as: its token and the `sub` it speaks for.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The access token.
    pub token: String,
    /// Who it speaks for (the items' `owner`).
    pub sub: String,
}

/// An item as the API answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its id.
    pub id: i64,
    /// The owner.
    pub owner: String,
    /// Its name.
    pub name: String,
    /// Its body.
    pub body: String,
}

/// The items API of one target.
#[derive(Debug)]
pub struct ItemsApi<'t> {
    /// Judges every response.
    pub observer: Observer<'t>,
    /// The area.
    pub area: QueryArea,
    auth: AuthArea,
    /// Whether the owners are test accounts (`--account`) shared by every case and run,
    /// rather than fresh accounts: a search is then judged on what the checks know the
    /// account holds, and the checks delete what they stored.
    pub shared: bool,
}

impl<'t> ItemsApi<'t> {
    /// The items API of `target`, or why it cannot be used: items need an access token.
    pub fn new(target: &'t Target, area: QueryArea) -> Result<Self, CheckOutcome> {
        let auth = match auth::area(target) {
            Ok(a) => a,
            // Tokens come from the mint hook or open registration, which the conformance
            // profile publishes; outside it the reason is the profile's.
            Err(CheckOutcome::NotVerified(why)) if why.starts_with(NOT_CONFORMANCE) => {
                return Err(CheckOutcome::NotVerified(why));
            }
            Err(CheckOutcome::NotVerified(why)) => {
                return Err(CheckOutcome::NotVerified(format!(
                    "the items API needs an access token, and {why}"
                )));
            }
            Err(other) => return Err(other),
        };
        // Without registration or the mint hook, the test accounts given (--account) hold
        // the items: shared by every case and run (`shared`).
        let shared = auth.register.is_none() && auth.mint.is_none();
        Ok(Self {
            observer: Observer::new(target),
            area,
            auth,
            shared,
        })
    }

    /// Deletes items the checks stored in a test account, so that the account holds
    /// afterwards what it held before; what cannot be deleted stays (the answer was judged
    /// by the observer like any other).
    /// The deletes may wait for the `api` budget past `--max-wait`
    /// ([`crate::budget::WaitAccount::courtesy`]).
    pub async fn remove(&self, owner: &Owner, ids: &[i64]) {
        crate::budget::WaitAccount::courtesy(async {
            for id in ids {
                if let Err(failure) = self.send(owner, self.delete_request(*id), &[]).await {
                    tracing::warn!(
                        id,
                        actual = %failure.actual,
                        "an item the suite stored in a test account was not deleted"
                    );
                }
            }
        })
        .await;
    }

    /// An account and an access token for it: a fresh one minted for an hour where the mint
    /// hook exists, else registered and logged in, else the next test account.
    pub async fn owner(&self, prefix: &str) -> Result<Owner, CaseFailure> {
        let api = AuthApi::new(self.observer.target, &self.auth);
        if self.auth.mint.is_some() {
            let sub = unique_scope(prefix);
            let token = api.mint(&sub, "access", 3_600).await?;
            return Ok(Owner {
                token: token.text,
                sub,
            });
        }
        if self.shared {
            // A test account: logged in once for the whole run.
            let (sub, token) = api.next_cached_login().await?;
            return Ok(Owner { token, sub });
        }
        let (sub, pair) = api.session(prefix).await?;
        Ok(Owner {
            token: pair.access.text,
            sub,
        })
    }

    fn authorized(request: RequestSpec, owner: &Owner) -> RequestSpec {
        request.header("Authorization", format!("Bearer {}", owner.token))
    }

    /// Sends `request` as `owner`; `planted` must not come back.
    pub async fn send(
        &self,
        owner: &Owner,
        request: RequestSpec,
        planted: &[String],
    ) -> Result<Exchange, CaseFailure> {
        self.observer
            .send(Self::authorized(request, owner), planted)
            .await
    }

    /// Sends `request` as `owner`, expecting a successful answer to return `returned`, data
    /// the client stored (judged as the client's, not the server's words).
    pub async fn send_returning(
        &self,
        owner: &Owner,
        request: RequestSpec,
        returned: &[&str],
    ) -> Result<Exchange, CaseFailure> {
        self.observer
            .send_returning(Self::authorized(request, owner), &[], returned)
            .await
    }

    /// `DELETE {items}/{id}`.
    pub fn delete_request(&self, id: i64) -> RequestSpec {
        RequestSpec::new(Method::DELETE, format!("{}/{id}", self.area.items))
    }

    /// `POST {items}` with `name` and `body`.
    pub fn create_request(&self, name: &str, body: &str) -> RequestSpec {
        RequestSpec::post_json(
            self.area.items.clone(),
            &json!({ "name": name, "body": body }),
        )
    }

    /// Creates an item and expects 201 with it, its `Location`, and both texts as sent.
    pub async fn create(&self, owner: &Owner, name: &str, body: &str) -> Result<Item, CaseFailure> {
        let ex = self
            .send_returning(owner, self.create_request(name, body), &[name, body])
            .await?;
        if ex.status != 201 {
            return Err(CaseFailure::violates(
                &ex,
                &qc::CREATED,
                format!("HTTP {} for a new item", ex.status),
            ));
        }
        let item = parse_item(&ex)?;
        let location = ex.header("location").unwrap_or_default();
        if location != format!("{}/{}", self.area.items, item.id) {
            return Err(CaseFailure::violates(
                &ex,
                &qc::CREATED,
                format!("Location {location:?} for item {}", item.id),
            ));
        }
        expect_texts(&ex, &item, owner, name, body)?;
        Ok(item)
    }

    /// `GET {items}/{id}` as `owner`, expecting the item's texts `returned`.
    pub async fn get(
        &self,
        owner: &Owner,
        id: i64,
        returned: &[&str],
    ) -> Result<Exchange, CaseFailure> {
        self.send_returning(
            owner,
            RequestSpec::new(Method::GET, format!("{}/{id}", self.area.items)),
            returned,
        )
        .await
    }

    /// Every id of `owner`'s items whose name contains `q`, following `next` page by page;
    /// `returned` are the texts of the owner's items, which a page may return.
    pub async fn search(
        &self,
        owner: &Owner,
        q: &str,
        returned: &[&str],
    ) -> Result<Vec<i64>, CaseFailure> {
        Ok(self
            .search_items(owner, q, returned)
            .await?
            .iter()
            .map(|item| item.id)
            .collect())
    }

    /// [`ItemsApi::search`], with the items listed.
    pub async fn search_items(
        &self,
        owner: &Owner,
        q: &str,
        returned: &[&str],
    ) -> Result<Vec<Item>, CaseFailure> {
        let encoded = query_value(q);
        let mut after = 0;
        let mut ids = Vec::new();
        loop {
            let path = format!(
                "{}?q={encoded}&after={after}&limit={}",
                self.area.items, self.area.max_page
            );
            let ex = self
                .send_returning(owner, RequestSpec::new(Method::GET, path), returned)
                .await?;
            let body = ex.json().unwrap_or(Value::Null);
            let (Some(items), Some(next)) = (
                body.get("items").and_then(Value::as_array),
                body.get("next"),
            ) else {
                return Err(CaseFailure::violates(
                    &ex,
                    &qc::LISTING,
                    "a listing that is not {\"items\": [...], \"next\": ...}",
                ));
            };
            if ex.status != 200 {
                return Err(CaseFailure::violates(&ex, &qc::LISTING, "not 200"));
            }
            for listed in items {
                let item = item_of(&ex, listed)?;
                let id = item.id;
                if id <= after {
                    return Err(CaseFailure::violates(
                        &ex,
                        &qc::LISTING,
                        format!("id {id} listed after {after}, or out of order"),
                    ));
                }
                after = id;
                ids.push(item);
            }
            // `next` is the last id of a full page and null otherwise (spec/http-contract.md).
            let full = items.len() as u64 == self.area.max_page;
            match next.as_i64() {
                Some(n) if n == after && full => {}
                None if next.is_null() && !full => return Ok(ids),
                _ => {
                    return Err(CaseFailure::violates(
                        &ex,
                        &qc::LISTING,
                        format!("next {next} after a page ending at {after}"),
                    ));
                }
            }
        }
    }

    /// One reading of `/metrics`, or `None` when the target serves none.
    pub async fn metrics(&self) -> Result<Option<Metrics>, CaseFailure> {
        let Some(path) = &self.area.metrics else {
            return Ok(None);
        };
        let ex = self
            .observer
            .send(RequestSpec::new(Method::GET, path.clone()), &[])
            .await?;
        let text_format = ex
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain"));
        if ex.status != 200 || !text_format {
            return Err(CaseFailure::violates(
                &ex,
                &qc::METRICS,
                format!(
                    "HTTP {} with Content-Type {:?}",
                    ex.status,
                    ex.header("content-type")
                ),
            ));
        }
        Ok(Some(Metrics::parse(&ex.text())))
    }
}

/// Reads an item from a response body.
pub fn parse_item(ex: &Exchange) -> Result<Item, CaseFailure> {
    item_of(ex, &ex.json().unwrap_or(Value::Null))
}

/// Reads the item `body` of the answer `ex`.
fn item_of(ex: &Exchange, body: &Value) -> Result<Item, CaseFailure> {
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    match (
        body.get("id").and_then(Value::as_i64),
        text("owner"),
        text("name"),
        text("body"),
    ) {
        (Some(id), Some(owner), Some(name), Some(item_body)) if id >= 1 => Ok(Item {
            id,
            owner,
            name,
            body: item_body,
        }),
        _ => Err(CaseFailure::violates(
            ex,
            &qc::ITEM_SHAPE,
            "an item without an integer id ≥ 1 and string owner, name and body",
        )),
    }
}

/// The item's texts are exactly those sent, and it belongs to `owner`.
pub fn expect_texts(
    ex: &Exchange,
    item: &Item,
    owner: &Owner,
    name: &str,
    body: &str,
) -> Result<(), CaseFailure> {
    if item.name != name || item.body != body {
        return Err(CaseFailure::violates(
            ex,
            &qc::BYTE_FOR_BYTE,
            format!(
                "sent name {name:?} and body {body:?}; got {:?} and {:?}",
                item.name, item.body
            ),
        ));
    }
    if item.owner != owner.sub {
        return Err(CaseFailure::violates(
            ex,
            &qc::OWNER_SCOPE,
            format!(
                "owner {:?}, not the token's sub {:?}",
                item.owner, owner.sub
            ),
        ));
    }
    Ok(())
}

/// Samples of the Prometheus text format: each series (name and sorted labels) and its
/// value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    series: BTreeMap<(String, Vec<(String, String)>), f64>,
}

impl Metrics {
    /// Parses the text exposition format; lines it cannot read are skipped.
    pub fn parse(text: &str) -> Self {
        let mut series = BTreeMap::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (head, value) = match line.rsplit_once(' ') {
                Some(split) => split,
                None => continue,
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match head.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.trim_end_matches('}'))),
                None => (head, Vec::new()),
            };
            series.insert((name.to_owned(), labels), value);
        }
        Self { series }
    }

    /// The sum of every series named `name` whose labels include all of `labels`; `None`
    /// when no series matches.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = None;
        for ((n, ls), v) in &self.series {
            if n == name
                && labels
                    .iter()
                    .all(|(k, want)| ls.iter().any(|(lk, lv)| lk == k && lv == want))
            {
                found = Some(found.unwrap_or(0.0) + v);
            }
        }
        found
    }
}

fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(match e {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                other => value.push(other),
            }
        }
        out.push((key.trim_start_matches(',').trim().to_owned(), value));
        rest = &after[end..];
    }
    out.sort();
    out
}

/// `q` as a query-string value: UTF-8, every byte outside the unreserved set percent-encoded
/// and a space as `%20`, never `+` (spec/http-contract.md, "Items": whether a bare `+` means
/// a space is the server's to decide, so the suite never sends one).
pub fn query_value(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    #[test]
    fn spaces_are_percent_encoded_never_plus() {
        assert_eq!(super::query_value("a b+c/é"), "a%20b%2Bc%2F%C3%A9");
    }

    use super::*;

    #[test]
    fn metrics_parse_series_and_labels() {
        let text = "# TYPE x counter\n\
            dx_db_pool_connections{backend=\"sqlite\",state=\"idle\"} 1\n\
            dx_db_pool_connections{backend=\"sqlite\",state=\"in_use\"} 2\n\
            dx_query_total{operation=\"insert\",outcome=\"ok\"} 3\n\
            odd{a=\"q\\\"uote,b\"} 7\n\
            plain 4.5\n\
            broken line\n";
        let m = Metrics::parse(text);
        assert_eq!(m.sum("dx_db_pool_connections", &[]), Some(3.0));
        assert_eq!(
            m.sum("dx_db_pool_connections", &[("state", "in_use")]),
            Some(2.0)
        );
        assert_eq!(m.sum("dx_query_total", &[("outcome", "ok")]), Some(3.0));
        assert_eq!(m.sum("odd", &[("a", "q\"uote,b")]), Some(7.0));
        assert_eq!(m.sum("plain", &[]), Some(4.5));
        assert_eq!(m.sum("missing", &[]), None);
        assert_eq!(m.sum("dx_query_total", &[("outcome", "timeout")]), None);
    }
}
