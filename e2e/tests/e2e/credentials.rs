//! Link credentials through a real secrets backend (`secrets-nats-kv`), against a NATS server
//! in operator mode (user JWT + seed required).
//!
//! The provider runs on lattice A (plain NATS, with the secrets backend); links manage
//! lattice B on the operator-mode server. Good credentials delivered as secrets work; wrong
//! ones give `transport` on that link only; plain-config credentials work with a warning.
//! The provider's stderr (the host's child inherits this process's fd 2, redirected to a
//! file here) is grepped for every seed and JWT: no part of one may appear.

use std::sync::Arc;
use std::time::Duration;

use crate::support::operator::{managed_host, untrusted_user, OperatorNats, UserCreds};
use crate::support::secrets::{SecretsBackend, BACKEND, SECRETS_PREFIX};
use anyhow::{anyhow, bail, Context as _, Result};
use lattice_control_e2e::caller::{error_kind, lattice_control as lc, no_options, types};
use lattice_control_e2e::logs::StderrCapture;
use lattice_control_e2e::util::{scratch_dir, unique_name, wait_for};
use lattice_control_e2e::{
    bounded, put_config, put_provider_link, retry, start_provider, Caller, Nats, TestLattice, CALL_RETRY, CALL_TIMEOUT,
};

const SECRET_POLICY: &str = r#"{"type":"properties.secret.wasmcloud.dev/v1alpha1","properties":{}}"#;

/// The pieces of a credential that must never be logged: the seed, and the JWT's claims and
/// signature (its header is the same for every NATS JWT), each also as 12-char windows.
fn secret_fragments(creds: &UserCreds) -> Vec<String> {
    let mut parts: Vec<&str> = creds.jwt.split('.').skip(1).collect();
    parts.push(&creds.seed);
    let mut out = Vec::new();
    for p in parts {
        out.push(p.to_string());
        let chars: Vec<char> = p.chars().collect();
        out.extend(chars.windows(12).step_by(4).map(|w| w.iter().collect::<String>()));
    }
    out
}

fn assert_no_leak(what: &str, text: &str, creds: &[&UserCreds]) -> Result<()> {
    for c in creds {
        if let Some(f) = secret_fragments(c).iter().find(|f| text.contains(f.as_str())) {
            bail!("{what} contains a credential fragment `{}…`", &f[..4]);
        }
    }
    Ok(())
}

/// Stores `value` under `key` in the backend and puts the secret reference `SECRET_{key}`
/// that delivers it to a link as setting `setting`.
async fn put_secret(
    lattice: &TestLattice,
    backend: &SecretsBackend,
    key: &str,
    setting: &str,
    value: &str,
) -> Result<()> {
    backend.put(key, value).await?;
    put_config(
        lattice,
        &format!("SECRET_{key}"),
        &[
            ("name", setting),
            ("type", "secret.wasmcloud.dev/v1alpha1"),
            ("backend", BACKEND),
            ("key", key),
            ("policy", SECRET_POLICY),
        ],
    )
    .await
}

/// Lets the provider read the secrets `names` (the backend hands secrets only to entities
/// mapped to them: the provider's PAR subject).
async fn map_to_provider(backend: &SecretsBackend, names: &[&str]) -> Result<()> {
    backend.map_provider(&lattice_control_e2e::provider_par()?, names).await
}

async fn host_ids(caller: &Caller) -> Result<Result<Vec<String>, types::CtlError>> {
    let query = types::HostQuery { expected: None, full_wait: false, timeout_ms: None };
    let r = bounded("get-hosts", CALL_TIMEOUT, lc::get_hosts(caller.wrpc(), caller.cx(), &query)).await??;
    Ok(r.map(|hosts| hosts.into_iter().map(|h| h.id).collect()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn link_credentials_from_a_secrets_backend() -> Result<()> {
    // Debug logs from the provider (the host passes RUST_LOG on): more places a leak could show.
    std::env::set_var("RUST_LOG", "debug");
    let capture = StderrCapture::start(scratch_dir()?.join("credentials-stderr.log"))?;
    let outcome = run(&capture).await;
    drop(capture);
    outcome
}

async fn run(capture: &StderrCapture) -> Result<()> {
    // Lattice B: operator mode, one host; the users links will present.
    let server = OperatorNats::start()?;
    let managed = unique_name("managed");
    let host_b_key = Arc::new(nkeys::KeyPair::new_server());
    let host_b_id = host_b_key.public_key();
    let (host_b, shutdown_b) = managed_host(&server, &managed, &server.new_user("host")?, host_b_key).await?;
    let good = server.new_user("link-good")?;
    let plain = server.new_user("link-plain")?;
    let bad = untrusted_user()?;

    // Lattice A: the provider's home, with the secrets backend.
    let nats = Nats::start()?;
    let mut home = TestLattice::start(&nats, 0).await?;
    home.add_host_with(|c| c.secrets_topic_prefix = Some(SECRETS_PREFIX.to_string())).await?;
    let backend = SecretsBackend::start(home.nats()).await?;
    put_secret(&home, &backend, "good_jwt", "nats_jwt", &good.jwt).await?;
    put_secret(&home, &backend, "good_seed", "nats_seed", &good.seed).await?;
    put_secret(&home, &backend, "bad_jwt", "nats_jwt", &bad.jwt).await?;
    put_secret(&home, &backend, "bad_seed", "nats_seed", &bad.seed).await?;
    map_to_provider(&backend, &["good_jwt", "good_seed", "bad_jwt", "bad_seed"]).await?;

    let provider_id = unique_name("cred-provider");
    start_provider(&home, 0, &provider_id, &[]).await?;
    let b_url = server.url();
    put_config(&home, "managed", &[("nats_url", &b_url), ("lattice", &managed)]).await?;
    put_config(
        &home,
        "managed-plain",
        &[("nats_url", &b_url), ("lattice", &managed), ("nats_jwt", &plain.jwt), ("nats_seed", &plain.seed)],
    )
    .await?;
    let links: [(&str, &[&str]); 4] = [
        ("comp-good", &["managed", "SECRET_good_jwt", "SECRET_good_seed"]),
        ("comp-bad", &["managed", "SECRET_bad_jwt", "SECRET_bad_seed"]),
        ("comp-plain", &["managed-plain"]),
        ("comp-home", &[]),
    ];
    let base = Caller::new(home.nats().clone(), home.lattice(), &provider_id).await?;
    for (source, configs) in links {
        put_provider_link(&home, source, "default", &provider_id, configs).await?;
        let caller = base.as_component(source, "default");
        wait_for("link delivered", Duration::from_secs(20), || async {
            let r =
                bounded("provider-info", CALL_TIMEOUT, lc::provider_info(caller.wrpc(), caller.cx(), &no_options()))
                    .await??;
            Ok(r.ok())
        })
        .await
        .with_context(|| format!("{source}: link (with its secrets) never reached the provider"))?;
    }
    let call = |source: &str| base.as_component(source, "default");

    // Secrets-delivered credentials work: the link sees lattice B's host.
    let hosts = retry("good get-hosts", CALL_RETRY, || async {
        host_ids(&call("comp-good")).await?.map_err(|e| anyhow!("{e:?}"))
    })
    .await?;
    assert_eq!(hosts, vec![host_b_id.clone()], "good credentials manage lattice B");

    // Wrong credentials: `transport` on that link, every time (a later call retries).
    let mut bad_messages = Vec::new();
    for _ in 0..2 {
        match host_ids(&call("comp-bad")).await? {
            Err(e) if error_kind(&e) == "transport" => bad_messages.push(format!("{e:?}")),
            other => bail!("wrong credentials: expected transport, got {other:?}"),
        }
    }

    // Other links are unaffected: plain-config credentials (with a warning) and the home link.
    let hosts = host_ids(&call("comp-plain")).await?.map_err(|e| anyhow!("{e:?}"))?;
    assert_eq!(hosts, vec![host_b_id.clone()], "plain-config credentials");
    let hosts = host_ids(&call("comp-home")).await?.map_err(|e| anyhow!("{e:?}"))?;
    assert_eq!(hosts, home.host_ids(), "a link without settings manages the home lattice");
    let hosts = host_ids(&call("comp-good")).await?.map_err(|e| anyhow!("{e:?}"))?;
    assert_eq!(hosts, vec![host_b_id.clone()], "good link after the bad one failed");

    // The provider's log writer is non-blocking: poll until the warning is there, then grep
    // everything written up to then.
    let log = wait_for("the plain-config warning in the provider's log", Duration::from_secs(10), || async {
        let log = capture.text();
        Ok(log.contains("credential given in plain config").then_some(log))
    })
    .await?;
    let all = [&good, &bad, &plain];
    assert_no_leak("the transport errors", &bad_messages.join("\n"), &all)?;
    assert_no_leak("the provider's log", &log, &all)?;

    drop(backend);
    home.shutdown().await?;
    drop(host_b);
    let _ = bounded("managed host shutdown", Duration::from_secs(10), shutdown_b).await;
    Ok(())
}

/// Runs `openssl` with `args` in `dir` (bounded: it does not read stdin).
fn openssl(dir: &std::path::Path, args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .context("running openssl (needed to make the test's certificates)")?;
    anyhow::ensure!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// A CA named `name` in `dir` (`{name}.pem`, `{name}.key`).
fn make_ca(dir: &std::path::Path, name: &str) -> Result<String> {
    let (pem, key, cn) = (format!("{name}.pem"), format!("{name}.key"), format!("/CN=e2e {name}"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &cn,
        ],
    )?;
    Ok(std::fs::read_to_string(dir.join(pem))?)
}

/// A server certificate for 127.0.0.1 signed by CA `ca` (`server.pem`, `server.key`).
fn make_server_cert(dir: &std::path::Path, ca: &str) -> Result<()> {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    )?;
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n")?;
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    )
}

/// The `get-hosts` error of `caller`'s link, once the link is delivered (`not-linked` before),
/// which must be of `kind`; its text for the caller to check.
async fn refusal(caller: &Caller, kind: &str) -> Result<String> {
    let outcome = retry("the link's get-hosts", Duration::from_secs(20), || async {
        match host_ids(caller).await? {
            Err(e) if error_kind(&e) == "not-linked" => bail!("not delivered yet"),
            other => Ok(other),
        }
    })
    .await?;
    match outcome {
        Err(e) if error_kind(&e) == kind => Ok(format!("{e:?}")),
        other => bail!("expected {kind}, got {other:?}"),
    }
}

/// An inline CA (`tls_ca`, PEM text) delivered as a secret by a real backend reaches the
/// link's NATS connection: the link connects over TLS to a server whose certificate only that
/// CA signed and answers `get-hosts`. A CA that did not sign it fails with `transport`, text
/// that is not PEM with `invalid-argument` naming `tls_ca`; neither error quotes the PEM.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inline_tls_ca_from_a_secret_reaches_a_tls_server() -> Result<()> {
    let certs = tempfile::Builder::new().prefix("lattice-control-tls-").tempdir()?;
    let ca = make_ca(certs.path(), "ca")?;
    let wrong_ca = make_ca(certs.path(), "other-ca")?;
    make_server_cert(certs.path(), "ca")?;

    // Lattice B on a TLS server; `allow_non_tls` lets its host (which has no way to trust our
    // CA) connect in plain text, while the links require TLS and must verify the certificate.
    let dir = certs.path().display();
    let tls = Nats::start_with_config(&format!(
        "tls {{ cert_file: \"{dir}/server.pem\", key_file: \"{dir}/server.key\" }}\nallow_non_tls: true\n"
    ))?;
    let managed = TestLattice::start(&tls, 1).await?;
    let managed_host = managed.host_id(0)?.to_string();

    // Lattice A: the provider's home, with the secrets backend.
    let nats = Nats::start()?;
    let mut home = TestLattice::start(&nats, 0).await?;
    home.add_host_with(|c| c.secrets_topic_prefix = Some(SECRETS_PREFIX.to_string())).await?;
    let backend = SecretsBackend::start(home.nats()).await?;
    put_secret(&home, &backend, "managed_ca", "tls_ca", &ca).await?;
    map_to_provider(&backend, &["managed_ca"]).await?;

    let provider_id = unique_name("tls-provider");
    start_provider(&home, 0, &provider_id, &[]).await?;
    let url = tls.url();
    let lattice = managed.lattice().to_string();
    put_config(&home, "tls-managed", &[("nats_url", &url), ("lattice", &lattice)]).await?;
    put_config(&home, "tls-wrong", &[("nats_url", &url), ("lattice", &lattice), ("tls_ca", &wrong_ca)]).await?;
    put_config(&home, "tls-garbage", &[("nats_url", &url), ("lattice", &lattice), ("tls_ca", "not-a-pem-blob")])
        .await?;
    let links: [(&str, &[&str]); 3] = [
        ("comp-ca", &["tls-managed", "SECRET_managed_ca"]),
        ("comp-wrong-ca", &["tls-wrong"]),
        ("comp-garbage-ca", &["tls-garbage"]),
    ];
    let base = Caller::new(home.nats().clone(), home.lattice(), &provider_id).await?;
    for (source, configs) in links {
        put_provider_link(&home, source, "default", &provider_id, configs).await?;
    }
    let call = |source: &str| base.as_component(source, "default");

    // The secret's CA: the link reaches lattice B (a link not yet delivered answers
    // `not-linked`, so retry until it is there).
    let started = std::time::Instant::now();
    let hosts = retry("get-hosts with the inline CA", Duration::from_secs(20), || async {
        host_ids(&call("comp-ca")).await?.map_err(|e| anyhow!("{e:?}"))
    })
    .await?;
    println!("inline CA link: first get-hosts answered {:?} after its put", started.elapsed());
    assert_eq!(hosts, vec![managed_host], "the inline CA's link manages lattice B");
    // ... over TLS: the server lists the provider's link connection with a TLS version
    let connz = lattice_control_e2e::util::http_get(&tls.monitor_url(), "/connz?limit=1000").await?;
    let connz: serde_json::Value = serde_json::from_str(&connz)?;
    let link_conns: Vec<&serde_json::Value> = connz["connections"]
        .as_array()
        .context("/connz has no connections")?
        .iter()
        .filter(|c| c["name"] == "lattice-control-provider")
        .collect();
    assert!(!link_conns.is_empty(), "no link connection on the TLS server: {connz}");
    for c in &link_conns {
        assert!(c["tls_version"].as_str().is_some_and(|v| !v.is_empty()), "a link connection without TLS: {c}");
    }

    // A CA that did not sign the server's certificate: `transport`, every time.
    let pem_body = |pem: &str| pem.lines().nth(1).unwrap_or_default().to_string();
    let leaks = |message: &str| {
        message.contains("BEGIN CERTIFICATE")
            || message.contains(&pem_body(&ca))
            || message.contains(&pem_body(&wrong_ca))
            || message.contains("not-a-pem-blob")
    };
    let message = refusal(&call("comp-wrong-ca"), "transport").await?;
    assert!(!leaks(&message), "the error quotes a certificate: {message}");

    // Text that is not PEM: `invalid-argument` naming the key, not quoting the value.
    let message = refusal(&call("comp-garbage-ca"), "invalid-argument").await?;
    assert!(message.contains("tls_ca"), "the error names the key: {message}");
    assert!(!leaks(&message), "the error quotes the value: {message}");

    drop(backend);
    home.shutdown().await?;
    managed.shutdown().await?;
    Ok(())
}
