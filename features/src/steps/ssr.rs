//! Steps of `ssr.feature`: pages as crawlers and browsers get them, planted hostile content
//! and failing components, and the rendered tree against the target's client
//! (`dx_conformance::checks::ssr`).

use cucumber::{given, then, when};
use dx_conformance::CaseFailure;
use dx_conformance::checks::ssr::{self, Agent, Answer, Failing, HOSTILE, HOSTILE_TITLE};
use dx_conformance::clause::ssr as cl;
use dx_conformance::http::RequestSpec;
use dx_conformance::leaks;

use crate::step_error::StepError;
use crate::world::DxWorld;

fn area(world: &DxWorld) -> Result<ssr::SsrArea, StepError> {
    world
        .ssr()
        .area
        .clone()
        .ok_or_else(|| StepError::plain("the pages from an earlier step", "none"))
}

#[given("the target lists its pages")]
async fn lists_pages(world: &mut DxWorld) -> Result<(), StepError> {
    let result = match world.target() {
        Ok(target) => ssr::area(target).map_err(StepError::from),
        Err(e) => Err(e),
    };
    let result = result.map(|area| world.ssr_mut().area = Some(area));
    world.settle(result)
}

#[given("the target plants pages")]
async fn plants_pages(world: &mut DxWorld) -> Result<(), StepError> {
    lists_pages(world).await?;
    let result = match world.fault_hooks() {
        Ok(_) if area(world)?.planting => Ok(()),
        Ok(_) => Err(StepError::NotVerified(
            "the target's `ssr` member does not say it plants pages".into(),
        )),
        Err(e) => Err(e),
    };
    world.settle(result)
}

/// Asks for every listed page as each of `agents`, remembering each answer.
async fn ask(world: &mut DxWorld, agents: &[Agent]) -> Result<(), StepError> {
    let pages = area(world)?.pages;
    for page in &pages {
        for agent in agents {
            let ex = ssr::fetch_as(world.target()?, &page.path, agent).await?;
            world
                .ssr_mut()
                .answers
                .push((agent.name.clone(), page.path.clone(), ex));
        }
    }
    Ok(())
}

#[when("each crawler of spec/crawlers.toml asks for each page")]
async fn crawlers_ask(world: &mut DxWorld) -> Result<(), StepError> {
    let result = ask(world, &ssr::pinned().0).await;
    world.settle(result)
}

#[when("each browser of spec/crawlers.toml asks for each page")]
async fn browsers_ask(world: &mut DxWorld) -> Result<(), StepError> {
    let result = ask(world, &ssr::pinned().1).await;
    world.settle(result)
}

#[when("a crawler and a browser ask for each page")]
async fn both_ask(world: &mut DxWorld) -> Result<(), StepError> {
    let result = ask(world, &[ssr::a_crawler(), ssr::a_browser()]).await;
    world.settle(result)
}

/// Checks every answer is the document `rendered` says, naming every agent that got the
/// other one.
fn every_answer_is(world: &DxWorld, rendered: bool) -> Result<(), StepError> {
    let answers = &world.ssr().answers;
    let mut wrong = Vec::new();
    let mut first = None;
    for (agent, path, ex) in answers {
        let got = match ssr::read_answer(ex)? {
            Answer::Rendered(_) => true,
            Answer::Shell(_) => false,
        };
        if got != rendered {
            first.get_or_insert(ex);
            wrong.push(format!(
                "{agent} got the {} for {path}",
                if got { "rendered document" } else { "shell" }
            ));
        }
    }
    match first {
        None if answers.is_empty() => Err(StepError::plain("answers from an earlier step", "none")),
        None => Ok(()),
        Some(ex) => Err(CaseFailure::violates(
            ex,
            &cl::PINNED,
            format!("{} of {}: {}", wrong.len(), answers.len(), wrong.join("; ")),
        )
        .into()),
    }
}

#[then("every answer is the rendered document")]
async fn all_rendered(world: &mut DxWorld) -> Result<(), StepError> {
    let result = every_answer_is(world, true);
    world.settle(result)
}

#[then("every answer is the shell")]
async fn all_shells(world: &mut DxWorld) -> Result<(), StepError> {
    let result = every_answer_is(world, false);
    world.settle(result)
}

#[then("every answer names User-Agent in Vary")]
async fn all_vary(world: &mut DxWorld) -> Result<(), StepError> {
    let answers = &world.ssr().answers;
    let wrong: Vec<_> = answers
        .iter()
        .filter(|(_, _, ex)| !ssr::varies_by_user_agent(ex))
        .collect();
    let result = match wrong.first() {
        None => Ok(()),
        Some((_, _, ex)) => Err(CaseFailure::violates(
            ex,
            &cl::VARY,
            format!(
                "no Vary naming User-Agent for: {}",
                wrong
                    .iter()
                    .map(|(agent, path, _)| format!("{agent} on {path}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
        .into()),
    };
    world.settle(result)
}

/// Fetches `path` as a crawler and its stream, renders the stream in the target's client, and
/// remembers both trees.
async fn pair(world: &mut DxWorld, path: &str, stream: &str) -> Result<(), StepError> {
    let client = world
        .client()
        .area
        .clone()
        .ok_or_else(|| StepError::plain("a client from an earlier step", "none"))?;
    let ex = ssr::fetch_as(world.target()?, path, &ssr::a_crawler()).await?;
    let rendered = match ssr::read_answer(&ex)? {
        Answer::Rendered(doc) => doc.root.unwrap_or_default(),
        Answer::Shell(_) => {
            return Err(CaseFailure::violates(&ex, &cl::PINNED, "a crawler got the shell").into());
        }
    };
    let bytes = world
        .target()?
        .http()
        .send(RequestSpec::get(stream))
        .await?;
    if bytes.status != 200 {
        return Err(CaseFailure::violates(
            &bytes,
            &cl::PAGES,
            format!("the page's stream answered HTTP {}", bytes.status),
        )
        .into());
    }
    let built = ssr::client_page(&client, &bytes.body)?;
    world.ssr_mut().pairs.push((ex, rendered, built));
    Ok(())
}

#[when("a crawler asks for each page and the client renders each page's stream")]
async fn pair_pages(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        for page in area(world)?.pages {
            pair(world, &page.path, &page.stream).await?;
        }
        Ok(())
    }
    .await;
    world.settle(result)
}

#[then("the rendered root and the client's page are the same tree")]
async fn same_tree(world: &mut DxWorld) -> Result<(), StepError> {
    let result = (|| {
        let pairs = &world.ssr().pairs;
        if pairs.is_empty() {
            return Err(StepError::plain("pages from an earlier step", "none"));
        }
        for (ex, rendered, built) in pairs {
            ssr::judge_same_tree(ex, rendered, built)?;
        }
        Ok(())
    })();
    world.settle(result)
}

fn hostile_texts() -> Vec<&'static str> {
    HOSTILE.iter().map(|(_, text)| *text).collect()
}

#[when("I plant a page with every hostile text")]
async fn plant_hostile(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let page = ssr::plant(
            world.target()?,
            HOSTILE_TITLE,
            &hostile_texts(),
            Failing::None,
            "",
        )
        .await?;
        world.ssr_mut().planted = Some(page);
        Ok(())
    }
    .await;
    world.settle(result)
}

fn planted(world: &DxWorld) -> Result<ssr::PlantedPage, StepError> {
    world
        .ssr()
        .planted
        .clone()
        .ok_or_else(|| StepError::plain("a planted page from an earlier step", "none"))
}

#[when("a crawler asks for the planted page")]
async fn crawler_asks_planted(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let page = planted(world)?;
        let agent = ssr::a_crawler();
        let ex = ssr::fetch_as(world.target()?, &page.path, &agent).await?;
        world.ssr_mut().answers.push((agent.name, page.path, ex));
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when("a crawler asks for the planted page and the client renders its stream")]
async fn pair_planted(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let page = planted(world)?;
        pair(world, &page.path, &page.stream).await
    }
    .await;
    world.settle(result)
}

#[then("the title and every text read back exactly and nothing became markup")]
async fn read_back(world: &mut DxWorld) -> Result<(), StepError> {
    let result = (|| {
        let (_, _, ex) = world
            .ssr()
            .answers
            .last()
            .ok_or_else(|| StepError::plain("an answer from an earlier step", "none"))?;
        let doc = match ssr::read_answer(ex)? {
            Answer::Rendered(doc) => doc,
            Answer::Shell(_) => {
                return Err(
                    CaseFailure::violates(ex, &cl::PINNED, "a crawler got the shell").into(),
                );
            }
        };
        ssr::judge_planted(ex, &doc, HOSTILE_TITLE, HOSTILE)?;
        Ok(())
    })();
    world.settle(result)
}

/// A marker no answer may show: the failing component's message.
fn failure_marker() -> String {
    format!(
        "dx-conformance-failure-{} at /srv/app/components/faulty.rs:42",
        uuid::Uuid::new_v4().simple()
    )
}

#[when(expr = "I plant a page whose faulty component fails with {word}")]
async fn plant_failing(world: &mut DxWorld, how: String) -> Result<(), StepError> {
    let result = async {
        let fail = match how.as_str() {
            "error" => Failing::Error,
            "panic" => Failing::Panic,
            other => return Err(StepError::plain("error or panic", other.to_owned())),
        };
        let marker = failure_marker();
        world.plant(marker.clone());
        let texts = ["first planted text", "second planted text"];
        let target = world.target()?.clone();
        let whole = ssr::plant(&target, "A whole page", &texts, Failing::None, &marker).await?;
        let failing = ssr::plant(&target, "A whole page", &texts, fail, &marker).await?;
        let agent = ssr::a_crawler();
        for page in [whole, failing.clone()] {
            let ex = ssr::fetch_as(&target, &page.path, &agent).await?;
            world
                .ssr_mut()
                .answers
                .push((agent.name.clone(), page.path, ex));
        }
        world.ssr_mut().planted = Some(failing);
        Ok(())
    }
    .await;
    world.settle(result)
}

#[then("the failing page is answered 200 and is the whole page but for the faulty component")]
async fn whole_but_faulty(world: &mut DxWorld) -> Result<(), StepError> {
    let result = (|| {
        let answers = &world.ssr().answers;
        let [(_, _, whole), (_, _, failing)] = answers.as_slice() else {
            return Err(StepError::plain("two answers from an earlier step", "none"));
        };
        if failing.status != 200 {
            return Err(CaseFailure::violates(
                failing,
                &cl::BOUNDARY,
                format!(
                    "HTTP {} for a page with one failing component",
                    failing.status
                ),
            )
            .into());
        }
        let root = |ex| match ssr::read_answer(ex)? {
            Answer::Rendered(doc) => Ok::<_, StepError>(doc.root.unwrap_or_default()),
            Answer::Shell(_) => {
                Err(CaseFailure::violates(ex, &cl::PINNED, "a crawler got the shell").into())
            }
        };
        let (whole_rest, whole_faulty) = ssr::split_faulty(&root(whole)?);
        let (failing_rest, failing_faulty) = ssr::split_faulty(&root(failing)?);
        if whole_faulty.is_none() || failing_faulty.is_none() {
            return Err(CaseFailure::violates(
                failing,
                &cl::PLANTED,
                "no element with data-dx-component=\"faulty\"",
            )
            .into());
        }
        if let Some(d) = ssr::dom::first_difference(&failing_rest, &whole_rest) {
            return Err(CaseFailure::violates(
                failing,
                &cl::BOUNDARY,
                format!(
                    "outside the faulty component, the failing page differs from the whole one: {d}"
                ),
            )
            .into());
        }
        Ok(())
    })();
    world.settle(result)
}

#[then("the answer reveals nothing of the failure")]
async fn reveals_nothing(world: &mut DxWorld) -> Result<(), StepError> {
    let result = (|| {
        let (_, _, failing) = world
            .ssr()
            .answers
            .last()
            .ok_or_else(|| StepError::plain("an answer from an earlier step", "none"))?;
        let text = failing.text();
        let headers: String = failing
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap_or_default()))
            .collect();
        for marker in world.markers() {
            if text.contains(marker.as_str()) || headers.contains(marker.as_str()) {
                return Err(CaseFailure::violates(
                    failing,
                    &cl::FALLBACK,
                    format!("the answer shows the failure's message {marker:?}"),
                )
                .into());
            }
        }
        if let Some(leak) = leaks::find_leak(&text) {
            return Err(CaseFailure::violates(failing, &cl::FALLBACK, leak.describe()).into());
        }
        Ok(())
    })();
    world.settle(result)
}
