//! Steps of `client.feature`: the target's client in the suite's MockHost, through the same
//! helpers the client checks use (`dx_conformance::checks::client`).

use cucumber::{given, then, when};
use dx_conformance::check::CheckOutcome;
use dx_conformance::checks::client::{self, len, place, returned};
use dx_conformance::clause::client as cc;
use dx_conformance::client::{ClientInstance, DomOp};
use dx_conformance::htip::{self, ErrorCode};
use dx_conformance::http::RequestSpec;

use crate::step_error::StepError;
use crate::world::DxWorld;

fn from_outcome(outcome: CheckOutcome) -> StepError {
    StepError::from_area(outcome, "a client")
}

/// A fresh instance of the target's client.
fn instance(world: &DxWorld) -> Result<ClientInstance, StepError> {
    let area = world
        .client()
        .area
        .as_ref()
        .ok_or_else(|| StepError::plain("a client from an earlier step", "none"))?;
    area.instance().map_err(StepError::from)
}

/// The first HTIP asset in `client.assets`: its path and versions.
fn demo_asset(world: &DxWorld) -> Result<(String, Vec<String>), StepError> {
    client::published_assets(world.target()?)
        .into_iter()
        .find(|a| {
            a.content_type
                .as_deref()
                .is_some_and(|t| t.contains("htip"))
        })
        .map(|a| (a.path, a.versions))
        .ok_or_else(|| {
            StepError::NotVerified("the target lists no HTIP asset in client.assets".into())
        })
}

async fn fetch(world: &DxWorld, path: String) -> Result<Vec<u8>, StepError> {
    let ex = world
        .target()?
        .http()
        .send(RequestSpec::get(path.clone()))
        .await
        .map_err(|e| StepError::plain("an answer", e.to_string()))?;
    if ex.status != 200 {
        return Err(StepError::plain(
            cc::OLDER_VERSIONS.cite(),
            format!("GET {path}: HTTP {}", ex.status),
        ));
    }
    Ok(ex.body)
}

#[given("the target serves a WASM client")]
async fn serves_client(world: &mut DxWorld) -> Result<(), StepError> {
    let result = match world.target() {
        Ok(target) => client::area(target).await.map_err(from_outcome),
        Err(e) => Err(e),
    };
    let result = result.map(|area| world.client_mut().area = Some(area));
    world.settle(result)
}

#[given("the target serves a WASM client and a demo page")]
async fn serves_client_and_demo(world: &mut DxWorld) -> Result<(), StepError> {
    serves_client(world).await?;
    let result = demo_asset(world).map(|demo| world.client_mut().demo = Some(demo));
    world.settle(result)
}

/// Renders `stream` on a fresh client, remembering the instance and the code.
fn render(world: &mut DxWorld, stream: Vec<u8>) -> Result<(), StepError> {
    let mut client = instance(world)?;
    let ptr = place(&mut client, &stream, "stream")?;
    let code = returned(client.render_stream(ptr, len(&stream)), "render_stream")?;
    let state = world.client_mut();
    state.instance = Some(client);
    state.code = Some(code);
    state.stream = stream;
    Ok(())
}

async fn current_demo(world: &DxWorld) -> Result<Vec<u8>, StepError> {
    let (path, _) = world
        .client()
        .demo
        .clone()
        .ok_or_else(|| StepError::plain("a demo page from an earlier step", "none"))?;
    fetch(world, path).await
}

#[when("the client renders the current demo page")]
async fn renders_demo(world: &mut DxWorld) -> Result<(), StepError> {
    let result = match current_demo(world).await {
        Ok(page) => render(world, page),
        Err(e) => Err(e),
    };
    world.settle(result)
}

#[when(expr = "the client renders the current demo page without its last {int} bytes")]
async fn renders_cut_demo(world: &mut DxWorld, cut: usize) -> Result<(), StepError> {
    let result = match current_demo(world).await {
        Ok(mut page) => {
            page.truncate(page.len().saturating_sub(cut));
            render(world, page)
        }
        Err(e) => Err(e),
    };
    world.settle(result)
}

fn code(world: &DxWorld) -> Result<i32, StepError> {
    world
        .client()
        .code
        .ok_or_else(|| StepError::plain("a call from an earlier step", "none"))
}

#[then("the client returns 0")]
fn returns_zero(world: &mut DxWorld) -> Result<(), StepError> {
    let result = code(world).and_then(|c| {
        if c == 0 {
            Ok(())
        } else {
            Err(StepError::plain(
                cc::RENDERS_OPS.cite(),
                format!("render_stream returned {c} for the target's own page"),
            ))
        }
    });
    world.settle(result)
}

#[then(expr = "the client returns the code of {word}")]
fn returns_code(world: &mut DxWorld, name: String) -> Result<(), StepError> {
    let want = ErrorCode::ALL
        .iter()
        .find(|c| c.name() == name)
        .map(|c| -i32::from(c.code()));
    let result = match (code(world), want) {
        (Ok(got), Some(want)) if got == want => Ok(()),
        (Ok(got), Some(want)) => Err(StepError::plain(
            cc::CODES.cite(),
            format!("the call returned {got}, not {want} ({name})"),
        )),
        (Err(e), _) => Err(e),
        (_, None) => Err(StepError::plain("a code of spec/htip.md", name)),
    };
    world.settle(result)
}

#[then("the host saw exactly the operations the stream encodes")]
fn saw_exactly(world: &mut DxWorld) -> Result<(), StepError> {
    let state = world.client();
    let result = match (&state.instance, htip::stream::decode(&state.stream)) {
        (Some(client), Ok(stream)) => {
            let want = DomOp::expected(stream.ops(), &stream.templates(), 0);
            if client.host().dom_ops == want {
                Ok(())
            } else {
                Err(StepError::plain(
                    cc::RENDERS_OPS.cite(),
                    format!(
                        "{} page operations where the stream encodes {}",
                        client.host().dom_ops.len(),
                        want.len()
                    ),
                ))
            }
        }
        (_, Err(e)) => Err(StepError::plain(
            "the target's demo page to be a stream spec/htip.md accepts",
            e.name(),
        )),
        (None, _) => Err(StepError::plain("a render from an earlier step", "none")),
    };
    world.settle(result)
}

#[then("the host saw no page operation")]
fn saw_nothing(world: &mut DxWorld) -> Result<(), StepError> {
    let result = match &world.client().instance {
        Some(client) if client.host().page_calls() == 0 => Ok(()),
        Some(client) => Err(StepError::plain(
            cc::REFUSAL.cite(),
            format!("{} page operations", client.host().page_calls()),
        )),
        None => Err(StepError::plain("a render from an earlier step", "none")),
    };
    world.settle(result)
}

#[when("I fetch the oldest demo page and the patch from it to the current one")]
async fn fetch_patch(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let (path, versions) = world
            .client()
            .demo
            .clone()
            .ok_or_else(|| StepError::plain("a demo page from an earlier step", "none"))?;
        if versions.len() < 2 {
            return Err(StepError::NotVerified(
                "the target lists one version of its demo page: nothing to patch from".into(),
            ));
        }
        let oldest = versions[0].clone();
        let base = fetch(world, format!("{path}?v={oldest}")).await?;
        let current = fetch(world, path.clone()).await?;
        let ex = world
            .target()?
            .http()
            .send(
                RequestSpec::get(path)
                    .header("A-IM", "dxdp")
                    .header("If-None-Match", format!("\"{oldest}\"")),
            )
            .await
            .map_err(|e| StepError::plain("an answer", e.to_string()))?;
        let patch = match ex.status.as_u16() {
            226 => ex.body,
            200 => {
                return Err(StepError::NotVerified(
                    "the target answers the oldest version with the whole page, not a patch".into(),
                ));
            }
            other => {
                return Err(StepError::plain(
                    cc::IM_USED.cite(),
                    format!("HTTP {other}"),
                ));
            }
        };
        Ok((base, patch, current))
    }
    .await;
    let result = result.map(|(base, patch, current)| {
        let state = world.client_mut();
        state.base = base;
        state.patch = patch;
        state.current = current;
    });
    world.settle(result)
}

#[when("the client applies the patch to the oldest page")]
fn applies_patch(world: &mut DxWorld) -> Result<(), StepError> {
    apply_to(world, false)
}

#[when("the client applies the patch to the current page instead")]
fn applies_patch_to_current(world: &mut DxWorld) -> Result<(), StepError> {
    apply_to(world, true)
}

/// Applies the fetched patch in a fresh client, to the oldest page or to the current one.
fn apply_to(world: &mut DxWorld, to_current: bool) -> Result<(), StepError> {
    let result = (|| {
        let mut client = instance(world)?;
        let state = world.client();
        let base = if to_current {
            &state.current
        } else {
            &state.base
        };
        let b = place(&mut client, base, "base")?;
        let p = place(&mut client, &state.patch, "patch")?;
        let room = vec![0u8; state.current.len() + 16];
        let o = place(&mut client, &room, "output")?;
        let code = returned(
            client.apply_patch((b, len(base)), (p, len(&state.patch)), (o, len(&room))),
            "apply_patch",
        )?;
        let output = if code >= 0 {
            client
                .read(o, usize::try_from(code).unwrap_or(0))
                .map_err(|e| StepError::from(client::memory_failure(cc::INPUT.cite(), e)))?
        } else {
            Vec::new()
        };
        Ok::<_, StepError>((code, output))
    })();
    let result = result.map(|(code, output)| {
        let state = world.client_mut();
        state.code = Some(code);
        state.output = output;
    });
    world.settle(result)
}

#[then("the client's output is the current demo page byte for byte")]
fn output_is_current(world: &mut DxWorld) -> Result<(), StepError> {
    let state = world.client();
    let result = if state.code == Some(len(&state.current)) && state.output == state.current {
        Ok(())
    } else {
        Err(StepError::plain(
            cc::ROUND_TRIP.cite(),
            format!(
                "apply_patch returned {:?} and {} bytes for a page of {}",
                state.code,
                state.output.len(),
                state.current.len()
            ),
        ))
    };
    world.settle(result)
}

#[when(expr = "the client allocates {int} regions of 1 to {int} bytes with alignments 1 to {int}")]
fn allocates(
    world: &mut DxWorld,
    count: i32,
    max_size: i32,
    max_align: i32,
) -> Result<(), StepError> {
    let result = (|| {
        let mut client = instance(world)?;
        let mut regions = Vec::new();
        for i in 0..count {
            // A fixed, varied sequence: sizes and alignments that do not line up.
            let size = 1 + (i * 7919) % max_size.max(1);
            let align = 1 << ((i * 5) % (32 - max_align.max(1).leading_zeros() as i32));
            let ptr = returned(
                client.alloc(size, align),
                &format!("alloc({size}, {align})"),
            )?;
            if ptr == 0 {
                return Err(StepError::plain(
                    cc::ALLOC_FLOOR.cite(),
                    format!("alloc({size}, {align}) returned 0 after {i} regions"),
                ));
            }
            regions.push((ptr, size, align));
        }
        Ok::<_, StepError>((regions, client))
    })();
    let result = result.map(|(regions, client)| {
        let state = world.client_mut();
        state.regions = regions;
        state.instance = Some(client);
    });
    world.settle(result)
}

#[then("no two regions overlap and each is aligned inside the memory")]
fn regions_apart(world: &mut DxWorld) -> Result<(), StepError> {
    let state = world.client();
    let memory = state.instance.as_ref().map_or(0, |c| c.memory_len() as i64);
    let regions: Vec<(i64, i64, i64)> = state
        .regions
        .iter()
        .map(|&(p, s, a)| (i64::from(p), i64::from(s), i64::from(a)))
        .collect();
    let mut result = Ok(());
    for (i, &(p, s, a)) in regions.iter().enumerate() {
        if p % a != 0 || p + s > memory {
            result = Err(StepError::plain(
                cc::ALLOC_DISJOINT.cite(),
                format!("region {p}+{s} (align {a}) with a memory of {memory} bytes"),
            ));
            break;
        }
        if let Some(&(q, t, _)) = regions[..i]
            .iter()
            .find(|&&(q, t, _)| p < q + t && q < p + s)
        {
            result = Err(StepError::plain(
                cc::ALLOC_DISJOINT.cite(),
                format!("region {p}+{s} overlaps {q}+{t}"),
            ));
            break;
        }
    }
    world.settle(result)
}
