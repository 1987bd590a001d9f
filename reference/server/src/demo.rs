//! The demo page the reference serves as an HTIP stream (`spec/htip.md`): a shopping list in
//! three versions, each a realistic edit of the one before (an item inserted, one renamed,
//! one removed; then a block of items moved and some ticked off), so that the delta-capable
//! asset route has older versions to patch from (`spec/delta.md`).

use dx_htip::Event;
use dx_ssr::page::{Component, Fragment, Page, PageError};

/// The page's title: its heading and its document title.
pub const TITLE: &str = "Shopping list";

/// One item: its name and whether it is ticked off.
pub type Item = (String, bool);

fn groceries() -> Vec<Item> {
    const NAMES: [&str; 40] = [
        "apples",
        "bananas",
        "bread",
        "butter",
        "carrots",
        "cheddar",
        "chickpeas",
        "coffee",
        "cucumbers",
        "eggs",
        "flour",
        "garlic",
        "ginger",
        "honey",
        "jam",
        "kale",
        "lemons",
        "lentils",
        "milk",
        "mushrooms",
        "oats",
        "olive oil",
        "onions",
        "oranges",
        "pasta",
        "peanut butter",
        "pears",
        "peppers",
        "potatoes",
        "rice",
        "salt",
        "spinach",
        "sugar",
        "tea",
        "tofu",
        "tomatoes",
        "vinegar",
        "walnuts",
        "yoghurt",
        "zucchini",
    ];
    NAMES.iter().map(|n| ((*n).to_owned(), false)).collect()
}

/// The three versions' items.
fn versions_items() -> [Vec<Item>; 3] {
    let first = groceries();
    let mut second = first.clone();
    second.insert(3, ("oat milk".into(), false));
    if let Some(item) = second.get_mut(17) {
        item.0 = "red lentils".into();
    }
    second.remove(30);
    let mut third = second.clone();
    let moved: Vec<Item> = third.drain(5..15).collect();
    third.extend(moved);
    for i in [0, 2, 9, 21] {
        if let Some(item) = third.get_mut(i) {
            item.1 = true;
        }
    }
    [first, second, third]
}

/// The page's heading.
#[derive(Debug, Clone)]
pub struct Heading(pub String);

impl Component for Heading {
    fn name(&self) -> &str {
        "heading"
    }

    fn render(&self, out: &mut Fragment) -> Result<(), dx_error::DxError> {
        let template = out.template("<h1 class=\"title\"></h1>");
        let heading = out.clone_of(template);
        out.text(heading, self.0.clone());
        out.append(Fragment::SLOT, heading);
        Ok(())
    }
}

/// The list: one item per entry, ticked ones with the class `done`, each listening for
/// clicks (handler 1000 + its index).
#[derive(Debug, Clone)]
pub struct ShoppingList(pub Vec<Item>);

impl Component for ShoppingList {
    fn name(&self) -> &str {
        "list"
    }

    fn render(&self, out: &mut Fragment) -> Result<(), dx_error::DxError> {
        let list_template = out.template("<ul class=\"list\" role=\"list\"></ul>");
        let item_template = out.template("<li class=\"item\"></li>");
        let list = out.clone_of(list_template);
        out.append(Fragment::SLOT, list);
        for (i, (name, done)) in self.0.iter().enumerate() {
            let item = out.clone_of(item_template);
            out.text(item, name.clone());
            out.attr(item, "data-item", i.to_string());
            out.class(item, "done", *done);
            out.listen(item, Event::Click, 1000 + i as u32);
            out.append(list, item);
        }
        Ok(())
    }
}

/// The handler the login form's `submit` listener names (`assets/demo.js` answers it).
pub const LOGIN_HANDLER: u32 = 1;
/// The handler of the form that adds an item.
pub const ADD_ITEM_HANDLER: u32 = 2;

/// The sign-in form, and where the demo says how it went.
#[derive(Debug, Clone, Copy)]
pub struct Account;

impl Component for Account {
    fn name(&self) -> &str {
        "account"
    }

    fn render(&self, out: &mut Fragment) -> Result<(), dx_error::DxError> {
        let form = out.template(
            "<form class=\"login\"><label>Email <input name=\"email\" type=\"email\" \
             autocomplete=\"username\" required></label> <label>Password <input name=\"password\" \
             type=\"password\" autocomplete=\"current-password\" required></label> \
             <button type=\"submit\">Log in</button></form>",
        );
        let status = out.template("<p class=\"account-status\" role=\"status\"></p>");
        let form = out.clone_of(form);
        out.listen(form, Event::Submit, LOGIN_HANDLER);
        out.append(Fragment::SLOT, form);
        let status = out.clone_of(status);
        out.append(Fragment::SLOT, status);
        Ok(())
    }
}

/// The form that adds an item to the signed-in user's list.
#[derive(Debug, Clone, Copy)]
pub struct AddItem;

impl Component for AddItem {
    fn name(&self) -> &str {
        "add-item"
    }

    fn render(&self, out: &mut Fragment) -> Result<(), dx_error::DxError> {
        let form = out.template(
            "<form class=\"add-item\"><input name=\"name\" required maxlength=\"256\" \
             placeholder=\"Add an item\" aria-label=\"Item\"> <button type=\"submit\">Add</button></form>",
        );
        let status = out.template("<p class=\"add-status\" role=\"status\"></p>");
        let form = out.clone_of(form);
        out.listen(form, Event::Submit, ADD_ITEM_HANDLER);
        out.append(Fragment::SLOT, form);
        let status = out.clone_of(status);
        out.append(Fragment::SLOT, status);
        Ok(())
    }
}

/// The channel the live part of the demo follows over the sync WebSocket.
pub const LIVE_CHANNEL: &str = "demo";

/// The live part: messages published to [`LIVE_CHANNEL`] appear here once signed in.
#[derive(Debug, Clone, Copy)]
pub struct Live;

impl Component for Live {
    fn name(&self) -> &str {
        "live"
    }

    fn render(&self, out: &mut Fragment) -> Result<(), dx_error::DxError> {
        let heading = out.template("<h2>Live</h2>");
        let list = out.template("<ul class=\"messages\" aria-live=\"polite\"></ul>");
        let heading = out.clone_of(heading);
        out.append(Fragment::SLOT, heading);
        let list = out.clone_of(list);
        out.attr(list, "data-channel", LIVE_CHANNEL);
        out.append(Fragment::SLOT, list);
        Ok(())
    }
}

/// The demo page with `items`.
pub fn page(items: &[Item]) -> Page {
    Page::new()
        .with(Heading(TITLE.to_owned()))
        .with(Account)
        .with(ShoppingList(items.to_vec()))
        .with(AddItem)
        .with(Live)
}

/// The demo page's versions, oldest first, as HTIP streams.
pub fn versions() -> Result<Vec<Vec<u8>>, PageError> {
    versions_items()
        .iter()
        .map(|items| page(items).build().map(|built| built.stream))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_version_is_a_valid_stream_and_they_differ() {
        let versions = versions().unwrap();
        assert_eq!(versions.len(), 3);
        for v in &versions {
            let stream = dx_htip::stream::decode(v).unwrap();
            assert!(stream.clone_count() >= 40);
        }
        assert_ne!(versions[0], versions[1]);
        assert_ne!(versions[1], versions[2]);
    }
}
