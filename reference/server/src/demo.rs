//! The demo page the reference serves as an HTIP stream (`spec/htip.md`): a shopping list in
//! three versions, each a realistic edit of the one before (an item inserted, one renamed,
//! one removed; then a block of items moved and some ticked off), so that the delta-capable
//! asset route has older versions to patch from (`spec/delta.md`).

use dx_htip::stream::{EncodeError, encode};
use dx_htip::{Event, HtipOp};

/// The page's templates: the heading, the list, an item.
const TEMPLATES: [(u16, &str); 3] = [
    (1, "<h1 class=\"title\"></h1>"),
    (2, "<ul class=\"list\" role=\"list\"></ul>"),
    (
        3,
        "<li class=\"item\"><label><input type=\"checkbox\"><span></span></label></li>",
    ),
];

/// One item: its name and whether it is ticked off.
type Item = (String, bool);

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

/// The operations that render `items`.
fn page(items: &[Item]) -> Vec<HtipOp> {
    let mut ops = vec![
        HtipOp::Cache { template: 1 },
        HtipOp::Cache { template: 2 },
        HtipOp::Cache { template: 3 },
        HtipOp::BatchBegin,
        HtipOp::Clone { template: 1 },
        HtipOp::SetText {
            node: 1,
            text: "Shopping list".into(),
        },
        HtipOp::Append {
            parent: 0,
            child: 1,
        },
        HtipOp::Clone { template: 2 },
        HtipOp::Append {
            parent: 0,
            child: 2,
        },
        HtipOp::BatchCommit,
    ];
    for (i, (name, done)) in items.iter().enumerate() {
        let node = 3 + i as u32;
        ops.extend([
            HtipOp::BatchBegin,
            HtipOp::Clone { template: 3 },
            HtipOp::SetText {
                node,
                text: name.clone(),
            },
            HtipOp::SetAttr {
                node,
                key: "data-item".into(),
                value: format!("{i}"),
            },
            HtipOp::ToggleClass {
                node,
                class: "done".into(),
                enable: *done,
            },
            HtipOp::Listen {
                node,
                event: Event::Change,
                handler: 1000 + i as u32,
            },
            HtipOp::Append {
                parent: 2,
                child: node,
            },
            HtipOp::BatchCommit,
        ]);
    }
    ops
}

/// The demo page's versions, oldest first, as HTIP streams.
pub fn versions() -> Result<Vec<Vec<u8>>, EncodeError> {
    versions_items()
        .iter()
        .map(|items| encode(&TEMPLATES, &page(items)))
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
