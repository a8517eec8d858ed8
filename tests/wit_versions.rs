//! The provider serves `wasmcloud:lattice-control@1.0.0` with the current `types` records
//! (`src/bindings.rs` maps 1.0.0's `types` onto them). That is only sound while every
//! record of 1.0.0's `types` other than its six event records is unchanged: these tests hold
//! the current WIT to the published 1.0.0 text. The same holds for 1.1.0, whose `types` the
//! provider also maps onto the current ones: 1.2.0 left them as they were.

const PUBLISHED_TYPES: &str = include_str!("../compat/wit-1.0.0/types.wit");
const CURRENT_TYPES: &str = include_str!("../wit/types.wit");
const PUBLISHED_FUNCS: &str = include_str!("../compat/wit-1.0.0/lattice-control.wit");
const CURRENT_FUNCS: &str = include_str!("../wit/lattice-control.wit");
const V1_1_TYPES: &str = include_str!("../compat/wit-1.1.0/types.wit");
const V1_1_FUNCS: &str = include_str!("../compat/wit-1.1.0/lattice-control.wit");
const V1_1_EVENTS: &str = include_str!("../compat/wit-1.1.0/events.wit");
const CURRENT_EVENTS: &str = include_str!("../wit/events.wit");

/// The 1.0.0 event records, which 1.1.0 moved to its `events` interface.
const MOVED: [&str; 6] = [
    "record host-event",
    "record component-scale-event",
    "record provider-event",
    "record labels-event",
    "variant event-data",
    "record lattice-event",
];

/// The items of an interface body: doc comments and declarations, one string each, in order.
fn items(body: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for line in body.lines() {
        let line = line.trim();
        if line.is_empty() && depth == 0 {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        depth += line.matches('{').count();
        depth -= line.matches('}').count().min(depth);
        if depth == 0 && (line.ends_with(';') || line.ends_with('}')) {
            items.push(std::mem::take(&mut current));
        }
    }
    items
}

/// The body of `interface {name} { … }` in `wit` (between its braces).
fn interface<'a>(wit: &'a str, name: &str) -> &'a str {
    let header = format!("interface {name} {{");
    let start = wit
        .find(&header)
        .unwrap_or_else(|| panic!("no interface {name}"))
        + header.len();
    let body = &wit[start..];
    let mut depth = 1;
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &body[..i];
                }
            }
            _ => {}
        }
    }
    panic!("interface {name} does not end")
}

/// Declarations only (doc comments dropped: they may be reworded).
fn declarations(items: Vec<String>) -> Vec<String> {
    items
        .into_iter()
        .map(|i| {
            i.lines()
                .filter(|l| !l.starts_with("///"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|i| !i.is_empty())
        .collect()
}

#[test]
fn types_are_1_0_0_types_without_the_event_records() {
    let published = declarations(items(interface(PUBLISHED_TYPES, "types")));
    let kept: Vec<String> = published
        .into_iter()
        .filter(|i| !MOVED.iter().any(|m| i.starts_with(m)))
        .collect();
    let current = declarations(items(interface(CURRENT_TYPES, "types")));
    assert_eq!(
        current, kept,
        "wit/types.wit changed a record that 1.0.0 callers decode"
    );
}

#[test]
fn lattice_control_keeps_every_1_0_0_function() {
    let functions = |wit: &str| -> Vec<String> {
        declarations(items(interface(wit, "lattice-control")))
            .into_iter()
            .filter(|i| i.contains(": func("))
            .collect()
    };
    let published = functions(PUBLISHED_FUNCS);
    let current = functions(CURRENT_FUNCS);
    assert_eq!(published.len(), 23, "{published:#?}");
    // 1.1.0 may add functions; the 1.0.0 ones stay as they were, in order
    assert_eq!(&current[..published.len()], &published[..]);
}

#[test]
fn types_are_1_1_0_types() {
    assert_eq!(
        declarations(items(interface(CURRENT_TYPES, "types"))),
        declarations(items(interface(V1_1_TYPES, "types"))),
        "wit/types.wit changed a record that 1.1.0 callers decode"
    );
}

#[test]
fn lattice_control_keeps_every_1_1_0_function() {
    let functions = |wit: &str| -> Vec<String> {
        declarations(items(interface(wit, "lattice-control")))
            .into_iter()
            .filter(|i| i.contains(": func("))
            .collect()
    };
    let published = functions(V1_1_FUNCS);
    let current = functions(CURRENT_FUNCS);
    assert_eq!(published.len(), 23, "{published:#?}");
    assert_eq!(&current[..published.len()], &published[..]);
    assert!(current
        .iter()
        .any(|f| f.starts_with("get-component-load: func(")));
}

#[test]
fn events_are_1_1_0_events_and_component_load() {
    // every 1.1.0 record is as it was; the variant gained one case
    let records = |wit: &str| -> Vec<String> {
        declarations(items(interface(wit, "events")))
            .into_iter()
            .filter(|i| !i.starts_with("variant event-data") && !i.starts_with("use "))
            .collect()
    };
    assert_eq!(records(CURRENT_EVENTS), records(V1_1_EVENTS));
    let cases = |wit: &str| -> Vec<String> {
        let variant = declarations(items(interface(wit, "events")))
            .into_iter()
            .find(|i| i.starts_with("variant event-data"))
            .expect("event-data");
        variant.lines().map(str::to_string).collect()
    };
    let mut expected = cases(V1_1_EVENTS);
    let other = expected.iter().position(|c| c == "other,").expect("other");
    expected.insert(other, "component-load(load-report),".to_string());
    assert_eq!(cases(CURRENT_EVENTS), expected);
}
