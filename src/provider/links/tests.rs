//! The link table against a real `nats-server` (on PATH): sharing, reference counting,
//! reconnection, transitions that never wait for the network, generations.

use std::net::TcpListener;

use super::*;
use crate::test_nats::{free_port, NatsServer};

fn defaults(url: &str) -> ProviderDefaults {
    ProviderDefaults {
        lattice: "home".into(),
        rpc_url: url.into(),
        ..ProviderDefaults::default()
    }
}

fn cfg(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn table(url: &str) -> LinkTable {
    LinkTable::new(defaults(url), EventHub::default())
}

async fn get(links: &LinkTable, key: &LinkKey) -> Result<LinkHandle, LinkError> {
    tokio::time::timeout(Duration::from_secs(10), links.get(key))
        .await
        .expect("LinkTable::get is bounded")
}

fn connecting(links: &LinkTable) -> usize {
    links.lock().pool.counts_connecting()
}

#[tokio::test]
async fn equal_settings_share_and_deletes_release_only_unused() {
    let nats = NatsServer::start_on(free_port());
    let links = table(&nats.url());
    let (a, b, c) = (
        LinkKey::new("comp-a", "default"),
        LinkKey::new("comp-b", "default"),
        LinkKey::new("comp-a", "other"),
    );
    assert_eq!(
        links.put(a.clone(), cfg(&[]), HashMap::new()),
        PutOutcome::Added
    );
    links.put(b.clone(), cfg(&[("LATTICE", "home")]), HashMap::new());
    links.put(c.clone(), cfg(&[("lattice", "blue")]), HashMap::new());
    let ha = get(&links, &a).await.unwrap();
    let hb = get(&links, &b).await.unwrap();
    let hc = get(&links, &c).await.unwrap();
    assert_eq!(
        (ha.lattice(), hb.lattice(), hc.lattice()),
        ("home", "home", "blue")
    );
    // two clients (home, blue) on one connection
    assert_eq!(links.counts(), (3, 2, 1));

    assert!(links.remove(&a).is_some());
    assert_eq!(links.counts(), (2, 2, 1));
    assert!(get(&links, &b).await.is_ok(), "b keeps the shared client");
    assert!(matches!(
        get(&links, &a).await,
        Err(LinkError::NotLinked(_))
    ));
    assert!(links.remove(&b).is_some());
    assert_eq!(links.counts(), (1, 1, 1));
    assert!(links.remove(&b).is_none());
    assert!(links.remove(&c).is_some());
    assert_eq!(links.counts(), (0, 0, 0));
}

#[tokio::test]
async fn changed_put_applies_and_identical_put_changes_nothing() {
    let nats = NatsServer::start_on(free_port());
    let links = table(&nats.url());
    let a = LinkKey::new("comp-a", "default");
    links.put(a.clone(), cfg(&[]), HashMap::new());
    let first = get(&links, &a).await.unwrap();
    assert_eq!(first.lattice(), "home");
    assert!(!first
        .policy()
        .allows(crate::provider::policy::Operation::ScaleComponent));
    let generation = links.generation(&a).unwrap();
    assert_eq!(
        links.put(a.clone(), cfg(&[]), HashMap::new()),
        PutOutcome::Unchanged
    );
    assert_eq!(links.generation(&a), Some(generation));

    // same connection, new policy: applied for the next call, client kept
    assert_eq!(
        links.put(a.clone(), cfg(&[("allow", "all")]), HashMap::new()),
        PutOutcome::Changed
    );
    let second = get(&links, &a).await.unwrap();
    assert!(second
        .policy()
        .allows(crate::provider::policy::Operation::ScaleComponent));
    assert_eq!(links.counts(), (1, 1, 1));

    // a new lattice: a new client on the same connection, the old one released
    links.put(a.clone(), cfg(&[("lattice", "blue")]), HashMap::new());
    assert_eq!(get(&links, &a).await.unwrap().lattice(), "blue");
    assert_eq!(links.counts(), (1, 1, 1));
}

#[tokio::test]
async fn late_tasks_with_an_old_generation_apply_nothing() {
    let nats = NatsServer::start_on(free_port());
    let links = table(&nats.url());
    let a = LinkKey::new("comp-a", "default");
    links.put(a.clone(), cfg(&[]), HashMap::new());
    let old = links.generation(&a).unwrap();
    links.put(a.clone(), cfg(&[("lattice", "new")]), HashMap::new());
    assert_eq!(
        links.put_if_current(a.clone(), cfg(&[("lattice", "stale")]), HashMap::new(), old),
        PutOutcome::Stale
    );
    assert!(!links.remove_if_current(&a, old));
    assert_eq!(get(&links, &a).await.unwrap().lattice(), "new");
    let now = links.generation(&a).unwrap();
    assert!(links.remove_if_current(&a, now));
    assert_eq!(links.counts(), (0, 0, 0));
}

#[tokio::test]
async fn link_deleted_while_connecting_leaves_no_connection() {
    let (url, mut accepts, server) = silent_server();
    let links = table(&url);
    let a = LinkKey::new("comp-a", "default");
    links.put(a.clone(), cfg(&[]), HashMap::new());
    let waiting = {
        let links = links.clone();
        let a = a.clone();
        tokio::spawn(async move { get(&links, &a).await })
    };
    tokio::time::timeout(Duration::from_secs(5), accepts.recv())
        .await
        .expect("the put started a connect");
    assert_eq!(connecting(&links), 1);
    assert!(links.remove(&a).is_some());
    assert_eq!(
        connecting(&links),
        0,
        "the connect no one waits for is aborted"
    );
    let outcome = waiting.await.unwrap();
    assert!(
        matches!(outcome, Err(LinkError::NotLinked(_))),
        "{outcome:?}"
    );
    assert_eq!(links.counts(), (0, 0, 0));
    server.abort();
}

/// Accepts TCP connections and never answers (a NATS client waits for INFO until its
/// connect timeout); reports each accept.
fn silent_server() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("nats://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            let _ = tx.send(());
        }
    });
    (url, rx, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_never_wait_and_stalled_servers_do_not_hold_up_a_good_link() {
    let nats = NatsServer::start_on(free_port());
    let links = table(&nats.url());
    let mut silent = Vec::new();
    let started = Instant::now();
    for i in 0..10 {
        let (url, accepts, task) = silent_server();
        let key = LinkKey::new(format!("stalled-{i}"), "default");
        links.put(key.clone(), cfg(&[("nats_url", &url)]), HashMap::new());
        silent.push((key, accepts, task));
    }
    let good = LinkKey::new("good", "default");
    links.put(good.clone(), cfg(&[]), HashMap::new());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "11 puts took {:?}: a put waited for the network",
        started.elapsed()
    );
    get(&links, &good)
        .await
        .expect("the good link connects beside stalled ones");
    for (_, accepts, _) in &mut silent {
        tokio::time::timeout(Duration::from_secs(5), accepts.recv())
            .await
            .expect("every stalled link's connect runs");
    }
    // a delete of a stalled link takes effect at once
    let (stalled, _, _) = &silent[0];
    assert!(links.remove(stalled).is_some());
    assert!(matches!(
        links.get(stalled).await,
        Err(LinkError::NotLinked(_))
    ));
    // the others end in a bounded transport error
    let (other, _, _) = &silent[1];
    match get(&links, other).await {
        Err(LinkError::Transport(m)) => assert!(m.contains("127.0.0.1"), "{m}"),
        x => panic!("expected a transport error, got {x:?}"),
    }
    links.close();
    assert_eq!(links.counts(), (0, 0, 0));
    assert_eq!(connecting(&links), 0);
    for (_, _, task) in silent {
        task.abort();
    }
}

#[tokio::test]
async fn provider_defaults_update_re_resolves_links() {
    let nats = NatsServer::start_on(free_port());
    let links = table(&nats.url());
    let (a, b) = (LinkKey::new("a", "default"), LinkKey::new("b", "default"));
    links.put(a.clone(), cfg(&[]), HashMap::new());
    links.put(b.clone(), cfg(&[("lattice", "fixed")]), HashMap::new());
    get(&links, &a).await.unwrap();
    get(&links, &b).await.unwrap();
    let mut d = links.defaults();
    d.config = cfg(&[("lattice", "moved"), ("timeout_ms", "500")]);
    links.set_defaults(d);
    let ha = get(&links, &a).await.unwrap();
    assert_eq!(ha.lattice(), "moved");
    assert_eq!(
        ha.resolved.settings.client.timeout,
        Duration::from_millis(500)
    );
    assert_eq!(get(&links, &b).await.unwrap().lattice(), "fixed");
    assert_eq!(links.counts(), (2, 2, 1));
}

#[tokio::test]
async fn bad_settings_are_kept_as_the_links_error() {
    let links = table("nats://127.0.0.1:1");
    let a = LinkKey::new("a", "default");
    links.put(a.clone(), cfg(&[("timeout_ms", "zero")]), HashMap::new());
    match get(&links, &a).await {
        Err(LinkError::Invalid(e)) => assert!(e.to_string().contains("timeout_ms"), "{e}"),
        other => panic!("expected invalid settings, got {other:?}"),
    }
    links.put(a.clone(), cfg(&[("allow", "fly")]), HashMap::new());
    assert!(matches!(
        links.resolved(&a),
        Err(LinkError::Invalid(LinkConfigError::Policy(_)))
    ));
    links.put(
        a.clone(),
        cfg(&[("event_queue", "0"), ("events", "*")]),
        HashMap::new(),
    );
    assert!(matches!(
        links.resolved(&a),
        Err(LinkError::Invalid(LinkConfigError::Events(_)))
    ));
}

#[tokio::test]
async fn unreachable_nats_is_transport_and_a_later_call_connects() {
    let port = free_port();
    let url = format!("nats://user:s3cret@127.0.0.1:{port}");
    let links = table("nats://127.0.0.1:1");
    let a = LinkKey::new("a", "default");
    links.put(a.clone(), cfg(&[("nats_url", &url)]), HashMap::new());
    match get(&links, &a).await {
        Err(LinkError::Transport(m)) => {
            assert!(m.contains(&port.to_string()), "{m}");
            assert!(!m.contains("s3cret"), "user info leaked: {m}");
        }
        other => panic!("expected transport error, got {other:?}"),
    }
    assert_eq!(links.counts(), (1, 0, 0));

    let _nats = NatsServer::start_on(port);
    let h = get(&links, &a).await.expect("connects once NATS is up");
    assert_eq!(h.lattice(), "home");
    assert_eq!(links.counts(), (1, 1, 1));
}

#[test]
fn redacts_user_info() {
    assert_eq!(
        redact_urls(&[
            "nats://u:p@h:1".into(),
            "tls://h:2".into(),
            "u:p@h:3".into()
        ]),
        "nats://<redacted>@h:1,tls://h:2,<redacted>@h:3"
    );
}
