//! Steps of features/query.feature: items stored and searched through the items API, a burst
//! measured through `/metrics`, and provoked failures, through the helpers the property
//! checks use (`dx_conformance::checks::query`).

use cucumber::{given, then, when};
use dx_conformance::check::CheckOutcome;
use dx_conformance::checks::query::{self, ItemsApi, Owner, QueryArea, parse_item};
use dx_conformance::clause::query as qc;
use dx_conformance::envelope::expect_code;
use dx_conformance::http::RequestSpec;
use serde_json::{Value, json};

use crate::step_error::StepError;
use crate::world::DxWorld;

fn from_outcome(outcome: CheckOutcome) -> StepError {
    StepError::from_area(outcome, "an area")
}

fn area(world: &DxWorld) -> Result<QueryArea, StepError> {
    query::area(world.target()?).map_err(from_outcome)
}

/// The items API with fresh accounts: the scenarios store names of their own choosing, and
/// names are unique within an account, so a test account shared by every run cannot hold
/// them.
fn api(world: &DxWorld) -> Result<ItemsApi<'_>, StepError> {
    let api = ItemsApi::new(world.target()?, area(world)?).map_err(from_outcome)?;
    if api.shared {
        return Err(StepError::NotVerified(format!(
            "the query scenarios store names of their own choosing and need a fresh account for each (the conformance profile's registration or mint hook); test accounts are shared by every run (profile: {})",
            world.target()?.discovery().profile
        )));
    }
    Ok(api)
}

fn owner(world: &DxWorld) -> Result<Owner, StepError> {
    world
        .query()
        .owner
        .clone()
        .ok_or_else(|| StepError::plain("an account from an earlier step", "none"))
}

/// Every text stored so far, which a successful listing may return.
fn stored_texts(world: &DxWorld) -> Vec<String> {
    world
        .query()
        .items
        .iter()
        .flat_map(|i| [i.name.clone(), i.body.clone()])
        .collect()
}

#[given("the target offers the items API")]
async fn offers_items(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let api = api(world)?;
        let me = api.owner("feature-query").await?;
        let other = api.owner("feature-bystander").await?;
        let canary = api.create(&other, "canary ' ; --", "never changes").await?;
        Ok::<_, StepError>((me, other, canary))
    }
    .await;
    let result = result.map(|(me, other, canary)| {
        let state = world.query_mut();
        state.owner = Some(me);
        state.bystander = Some((other, canary));
    });
    world.settle(result)
}

#[given("the target offers the items API and its metrics")]
async fn offers_metrics(world: &mut DxWorld) -> Result<(), StepError> {
    let has_metrics = area(world).map(|a| a.metrics.is_some());
    match has_metrics {
        Ok(true) => offers_items(world).await,
        Ok(false) => world.settle(Err(StepError::NotVerified(
            "the target publishes no query.metrics".into(),
        ))),
        Err(e) => world.settle(Err(e)),
    }
}

#[when(expr = "I store an item named {string}")]
async fn store(world: &mut DxWorld, name: String) -> Result<(), StepError> {
    let result = async {
        let api = api(world)?;
        let me = owner(world)?;
        Ok::<_, StepError>(api.create(&me, &name, "").await?)
    }
    .await;
    let result = result.map(|item| world.query_mut().items.push(item));
    world.settle(result)
}

#[then(expr = "reading it back returns the name {string} byte for byte")]
async fn read_back(world: &mut DxWorld, name: String) -> Result<(), StepError> {
    let result = async {
        let api = api(world)?;
        let me = owner(world)?;
        let Some(item) = world.query().items.last().cloned() else {
            return Err(StepError::plain(
                "an item stored by an earlier step",
                "none",
            ));
        };
        let ex = api.get(&me, item.id, &[&item.name, &item.body]).await?;
        let read = parse_item(&ex)?;
        query::expect_texts(&ex, &read, &me, &name, "")?;
        Ok(())
    }
    .await;
    world.settle(result)
}

async fn expect_search(
    world: &DxWorld,
    needle: &str,
    count: Option<usize>,
) -> Result<(), StepError> {
    let api = api(world)?;
    let me = owner(world)?;
    let texts = stored_texts(world);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let got = api.search(&me, needle, &texts).await?;
    let want: Vec<i64> = world
        .query()
        .items
        .iter()
        .filter(|i| i.name.contains(needle))
        .map(|i| i.id)
        .collect();
    if got != want || count.is_some_and(|n| n != got.len()) {
        return Err(StepError::plain(
            format!("{}; listed ids {want:?}", qc::LISTING.cite()),
            format!("searching {needle:?} listed {got:?}"),
        ));
    }
    Ok(())
}

#[then(expr = "searching for {string} lists exactly that item")]
async fn search_one(world: &mut DxWorld, needle: String) -> Result<(), StepError> {
    let result = expect_search(world, &needle, Some(1)).await;
    world.settle(result)
}

#[then(expr = "searching for {string} lists both items")]
async fn search_both(world: &mut DxWorld, needle: String) -> Result<(), StepError> {
    let result = expect_search(world, &needle, Some(2)).await;
    world.settle(result)
}

#[then("another account's item is unchanged")]
async fn bystander_unchanged(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let api = api(world)?;
        let Some((other, canary)) = world.query().bystander.clone() else {
            return Err(StepError::plain(
                "another account from an earlier step",
                "none",
            ));
        };
        let ex = api
            .get(&other, canary.id, &[&canary.name, &canary.body])
            .await?;
        let now = parse_item(&ex)?;
        if now != canary {
            return Err(StepError::plain(
                qc::BYTE_FOR_BYTE.cite(),
                format!("the item changed from {canary:?} to {now:?}"),
            ));
        }
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when(expr = "I store another item with the name of the first and a planted marker")]
async fn store_duplicate(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let api = api(world)?;
        let me = owner(world)?;
        let Some(first) = world.query().items.first().cloned() else {
            return Err(StepError::plain(
                "an item stored by an earlier step",
                "none",
            ));
        };
        let marker = dx_conformance::checks::marker();
        let ex = api
            .send(
                &me,
                api.create_request(&first.name, &marker),
                std::slice::from_ref(&marker),
            )
            .await?;
        Ok::<_, StepError>((ex, marker))
    }
    .await;
    let result = result.map(|(ex, marker)| {
        world.plant(marker);
        world.set_last(ex);
    });
    world.settle(result)
}

#[when(expr = "I send {int} listings at once")]
async fn burst(world: &mut DxWorld, count: usize) -> Result<(), StepError> {
    let result = async {
        let api = api(world)?;
        let me = owner(world)?;
        let path = format!("{}?limit=1", api.area.items);
        let sends = (0..count).map(|_| api.send(&me, RequestSpec::get(&path), &[]));
        let answers = futures_util::future::try_join_all(sends).await?;
        Ok::<_, StepError>(answers)
    }
    .await;
    let result = result.map(|answers| world.set_burst(answers));
    world.settle(result)
}

#[then("every listing succeeded")]
fn every_listing(world: &mut DxWorld) -> Result<(), StepError> {
    let bad: Vec<u16> = world
        .burst()
        .iter()
        .map(|ex| ex.status.as_u16())
        .filter(|s| *s != 200)
        .collect();
    let result = if bad.is_empty() {
        Ok(())
    } else {
        Err(StepError::plain(
            qc::POOL_BOUND.cite(),
            format!("statuses {bad:?} in the burst"),
        ))
    };
    world.settle(result)
}

#[then("the metrics show no more connections than the pool size")]
async fn within_pool(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let api = api(world)?;
        let Some(metrics) = api.metrics().await? else {
            return Err(StepError::NotVerified("no metrics".into()));
        };
        let held = metrics
            .sum("dx_db_pool_connections", &[])
            .unwrap_or(f64::MAX);
        let max = metrics.sum("dx_db_pool_max_connections", &[]);
        let bound = api.area.pool_size as f64;
        if held > bound || max != Some(bound) {
            return Err(StepError::plain(
                qc::POOL_BOUND.cite(),
                format!("{held} connections held, maximum {max:?}, query.pool_size {bound}"),
            ));
        }
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when("I provoke a query past its timeout")]
async fn slow_query(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let base = world.fault_hooks()?;
        area(world)?;
        world
            .send(RequestSpec::post_json(
                format!("{base}/slow-query"),
                &json!({}),
            ))
            .await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

#[then(expr = "the error details name the type {string}, the table and the operation {string}")]
fn details_name(
    world: &mut DxWorld,
    error_type: String,
    operation: String,
) -> Result<(), StepError> {
    let result = (|| {
        let ex = world.last()?;
        let envelope = expect_code(ex, &envelope_code(ex), &qc::DETAILS)?;
        let details = envelope.details.unwrap_or(Value::Null);
        let ok = details["error_type"] == error_type
            && details["table"].as_str().is_some_and(|t| !t.is_empty())
            && (operation == "any"
                && ["select", "insert", "update", "delete"]
                    .contains(&details["operation"].as_str().unwrap_or(""))
                || details["operation"] == operation);
        if ok && envelope.message == envelope.code.message {
            Ok(())
        } else {
            Err(StepError::plain(
                format!("{}; {}", qc::DETAILS.cite(), qc::DEFAULT_MESSAGE.cite()),
                format!("message {:?}, details {details}", envelope.message),
            ))
        }
    })();
    world.settle(result)
}

/// The wire code the last response carries (checked again by `expect_code`).
fn envelope_code(ex: &dx_conformance::http::Exchange) -> String {
    ex.json()
        .and_then(|b| {
            b.pointer("/error/code")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

#[when(regex = r"^I store an item whose (name|body) is (empty|(\d+) bytes long|holding a NUL)$")]
async fn store_hostile(
    world: &mut DxWorld,
    member: String,
    shape: String,
    length: String,
) -> Result<(), StepError> {
    let value = match shape.as_str() {
        "empty" => String::new(),
        "holding a NUL" => "before\u{0}after".to_owned(),
        _ => "x".repeat(length.parse().unwrap_or(0)),
    };
    let (name, body) = if member == "name" {
        (value, String::new())
    } else {
        ("hostile body".to_owned(), value)
    };
    let result = async {
        let api = api(world)?;
        let me = owner(world)?;
        let ex = api.send(&me, api.create_request(&name, &body), &[]).await?;
        Ok::<_, StepError>(ex)
    }
    .await;
    let result = result.map(|ex| world.set_last(ex));
    world.settle(result)
}

/// The `limit` a parameter string asks for, when it is a whole number.
fn numeric_limit(parameters: &str) -> Option<u64> {
    parameters
        .split('&')
        .find_map(|pair| pair.strip_prefix("limit="))
        .and_then(|v| v.parse().ok())
}

#[when(expr = "I list my items with {string}")]
async fn list_mine_with(world: &mut DxWorld, parameters: String) -> Result<(), StepError> {
    let result = async {
        let api = api(world)?;
        // spec/http-contract.md "Items": `limit` is 1 to `query.max_page`; a target whose
        // page is that large has nothing to refuse here.
        if let Some(limit) = numeric_limit(&parameters)
            && (1..=api.area.max_page).contains(&limit)
        {
            return Err(StepError::NotVerified(format!(
                "the target's query.max_page ({}) allows limit={limit}",
                api.area.max_page
            )));
        }
        let me = owner(world)?;
        let ex = api
            .send(
                &me,
                RequestSpec::get(format!("{}?{parameters}", api.area.items)),
                &[],
            )
            .await?;
        Ok::<_, StepError>(ex)
    }
    .await;
    let result = result.map(|ex| world.set_last(ex));
    world.settle(result)
}

#[when("I list my items")]
async fn list_mine(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let api = api(world)?;
        let me = owner(world)?;
        let texts = stored_texts(world);
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let ex = api
            .send_returning(
                &me,
                RequestSpec::get(format!("{}?limit=1", api.area.items)),
                &texts,
            )
            .await?;
        Ok::<_, StepError>(ex)
    }
    .await;
    let result = result.map(|ex| world.set_last(ex));
    world.settle(result)
}
