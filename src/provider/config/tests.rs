use super::*;

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn secrets(pairs: &[(&str, &str)]) -> HashMap<String, Secret> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Secret::new(*v)))
        .collect()
}

/// A self-signed CA certificate (its key was thrown away).
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBhTCCASugAwIBAgIUHIu+FOwQ7YmRAfVKY59nRkTem9UwCgYIKoZIzj0EAwIw\nFzEVMBMGA1UEAwwMdW5pdC10ZXN0LWNhMCAXDTI2MTIwMjA1MTMzOFoYDzIxMjYx\nMTA4MDUxMzM4WjAXMRUwEwYDVQQDDAx1bml0LXRlc3QtY2EwWTATBgcqhkjOPQIB\nBggqhkjOPQMBBwNCAAQAiC/uxAsA7Rakrky6FaBHD7H2VyOcOPFpkhGLl7rHK4x/\nBO/qeJWSTawsELGANBXNc9/F4wd6lWjDy8kVVDODo1MwUTAdBgNVHQ4EFgQUgFOO\nSZQkF347wlK2i+T1iJgSbXcwHwYDVR0jBBgwFoAUgFOOSZQkF347wlK2i+T1iJgS\nbXcwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAgQ6gsMukr1VQ\nRMS/1yZvwZwySyvyhS1jvA8yYGboJssCIFS1SUAwsq3CKQelnO+VTaJEggvhj6IA\nq3tqI5TLFHJG\n-----END CERTIFICATE-----\n";

fn defaults() -> ProviderDefaults {
    ProviderDefaults {
        lattice: "home".into(),
        rpc_url: "nats://10.0.0.1:4222".into(),
        rpc_credentials: None,
        config: HashMap::new(),
        secrets: HashMap::new(),
    }
}

fn user_seed() -> String {
    nkeys::KeyPair::new_user()
        .seed()
        .expect("fresh key has a seed")
}

const JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln";

fn invalid_key(r: Result<LinkSettings, ConfigError>) -> String {
    r.expect_err("settings should be refused").key
}

#[test]
fn no_settings_use_the_providers_own_connection_and_lattice() {
    let mut d = defaults();
    d.rpc_credentials = Some((Secret::new(JWT), Secret::new(user_seed())));
    let s = resolve(&HashMap::new(), &HashMap::new(), &d).unwrap();
    assert_eq!(s.client.lattice, "home");
    assert_eq!(s.connection.urls, vec!["nats://10.0.0.1:4222".to_string()]);
    assert!(matches!(s.connection.auth, Auth::Jwt { .. }));
    assert_eq!(s.client.topic_prefix, "wasmbus.ctl");
    assert_eq!(s.client.timeout, Duration::from_millis(2000));
    assert_eq!(s.client.scatter_timeout, Duration::from_millis(3000));
    assert!(!s.connection.tls_first);
    assert!(s.client.coalesce_reads);
}

#[test]
fn empty_provider_lattice_and_url_fall_back() {
    let s = resolve(
        &HashMap::new(),
        &HashMap::new(),
        &ProviderDefaults::default(),
    )
    .unwrap();
    assert_eq!(s.client.lattice, "default");
    assert_eq!(s.connection.urls, vec!["nats://127.0.0.1:4222".to_string()]);
    assert_eq!(s.connection.auth, Auth::None);
}

#[test]
fn precedence_link_secret_then_link_config_then_provider_secret_then_provider_config() {
    let mut d = defaults();
    d.config = map(&[("lattice", "p-config"), ("topic_prefix", "p.cfg")]);
    d.secrets = secrets(&[("lattice", "p-secret")]);
    let only_defaults = resolve(&HashMap::new(), &HashMap::new(), &d).unwrap();
    assert_eq!(only_defaults.client.lattice, "p-secret");
    assert_eq!(only_defaults.client.topic_prefix, "p.cfg");

    let link_cfg = map(&[("lattice", "l-config")]);
    let s = resolve(&link_cfg, &HashMap::new(), &d).unwrap();
    assert_eq!(s.client.lattice, "l-config");

    let s = resolve(&link_cfg, &secrets(&[("lattice", "l-secret")]), &d).unwrap();
    assert_eq!(s.client.lattice, "l-secret");
    assert_eq!(s.client.topic_prefix, "p.cfg");
}

#[test]
fn keys_are_case_insensitive_and_passed_through() {
    let cfg = map(&[
        ("LATTICE", "blue"),
        ("Timeout_MS", "150"),
        ("Allow", "all"),
        ("events", "host_*"),
    ]);
    let s = resolve(&cfg, &HashMap::new(), &defaults()).unwrap();
    assert_eq!(s.client.lattice, "blue");
    assert_eq!(s.client.timeout, Duration::from_millis(150));
    assert_eq!(s.values.get("allow"), Some("all"));
    assert_eq!(s.values.get("events"), Some("host_*"));
}

#[test]
fn connection_keys_replace_the_providers_connection() {
    let s = resolve(
        &map(&[("nats_url", "nats://a:1, nats://b:2")]),
        &HashMap::new(),
        &defaults(),
    )
    .unwrap();
    assert_eq!(
        s.connection.urls,
        vec!["nats://a:1".to_string(), "nats://b:2".to_string()]
    );
    assert_eq!(s.connection.auth, Auth::None);

    let s = resolve(
        &map(&[("nats_host", "nats.local"), ("nats_port", "4333")]),
        &HashMap::new(),
        &defaults(),
    )
    .unwrap();
    assert_eq!(
        s.connection.urls,
        vec!["nats://nats.local:4333".to_string()]
    );

    let s = resolve(&map(&[("nats_port", "4333")]), &HashMap::new(), &defaults()).unwrap();
    assert_eq!(s.connection.urls, vec!["nats://127.0.0.1:4333".to_string()]);

    let s = resolve(
        &map(&[
            ("nats_creds_file", "/x.creds"),
            ("tls_first", "TRUE"),
            ("tls_ca_file", "/ca.pem"),
        ]),
        &HashMap::new(),
        &defaults(),
    )
    .unwrap();
    assert_eq!(s.connection.auth, Auth::CredsFile("/x.creds".into()));
    assert!(s.connection.tls_first);
    assert_eq!(s.connection.tls_ca_file, Some(PathBuf::from("/ca.pem")));

    let s = resolve(
        &map(&[("coalesce_reads", "Off")]),
        &HashMap::new(),
        &defaults(),
    )
    .unwrap();
    assert!(!s.client.coalesce_reads);
    // no server key: still the provider's own server
    assert_eq!(s.connection.urls, vec!["nats://10.0.0.1:4222".to_string()]);
}

#[test]
fn jwt_and_seed_from_secrets() {
    let seed = user_seed();
    let s = resolve(
        &map(&[("nats_url", "nats://a:1")]),
        &secrets(&[("NATS_JWT", JWT), ("nats_seed", &seed)]),
        &defaults(),
    )
    .unwrap();
    match &s.connection.auth {
        Auth::Jwt { jwt, seed: got } => {
            assert_eq!(jwt.expose(), JWT);
            assert_eq!(got.expose(), seed);
        }
        other => panic!("expected jwt auth, got {other:?}"),
    }
}

#[test]
fn bad_values_name_their_key() {
    let d = defaults();
    let none = HashMap::new();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("timeout_ms", "soon")], TIMEOUT_MS),
        (&[("timeout_ms", "0")], TIMEOUT_MS),
        (&[("timeout_ms", "-5")], TIMEOUT_MS),
        (&[("scatter_timeout_ms", "0")], SCATTER_TIMEOUT_MS),
        (&[("scatter_timeout_ms", "9001")], SCATTER_TIMEOUT_MS),
        (&[("ctl_tls_first", "maybe")], CTL_TLS_FIRST),
        (&[("tls_first", "maybe")], "tls_first"),
        (&[("coalesce_reads", "sometimes")], COALESCE_READS),
        (&[("ctl_port", "http")], CTL_PORT),
        (&[("nats_port", "0")], "nats_port"),
        (&[("ctl_host", "a/b")], CTL_HOST),
        (&[("nats_host", "a b")], "nats_host"),
        (&[("cluster_uris", " , ")], "cluster_uris"),
        (&[("nats_url", " , ")], NATS_URL),
        (&[("nats_url", "nats://a:1,::bad::")], NATS_URL),
        (&[("lattice", "a.b")], LATTICE),
        (&[("lattice", "a b")], LATTICE),
        (&[("topic_prefix", "wasmbus..ctl")], TOPIC_PREFIX),
        (&[("topic_prefix", "wasmbus.*")], TOPIC_PREFIX),
        // the subject-token rule of `ctl::validate`: control characters are refused too
        (&[("lattice", "a\u{7}b")], LATTICE),
        (&[("topic_prefix", "wasmbus.c\u{1}tl")], TOPIC_PREFIX),
        (&[("ctl_jwt", JWT)], CTL_SEED),
        (&[("ctl_seed", "SUxxx")], CTL_JWT),
        (&[("client_jwt", JWT)], CTL_SEED),
        (&[("ctl_credsfile", "/c"), ("ctl_jwt", JWT)], CTL_CREDSFILE),
        (
            &[("nats_creds_file", "/c"), ("nats_jwt", JWT)],
            "nats_creds_file",
        ),
        (&[("tls_ca", "not pem")], TLS_CA),
        (&[("tls_ca", TEST_CA), ("tls_ca_file", "/ca.pem")], TLS_CA),
    ];
    for (cfg, key) in cases {
        assert_eq!(invalid_key(resolve(&map(cfg), &none, &d)), *key, "{cfg:?}");
    }
    assert_eq!(
        resolve(&map(&[("scatter_timeout_ms", "9000")]), &none, &d)
            .unwrap()
            .client
            .scatter_timeout,
        Duration::from_millis(9000)
    );
    // a non-ASCII letter is a subject token like any other
    let s = resolve(&map(&[("lattice", "zoë")]), &none, &d).unwrap();
    assert_eq!(s.client.lattice, "zoë");
}

#[test]
fn secrets_never_show_in_debug_or_errors() {
    let seed = user_seed();
    let s = resolve(
        &map(&[("nats_url", "nats://a:1"), ("allow", "all")]),
        &secrets(&[
            ("nats_jwt", JWT),
            ("nats_seed", &seed),
            ("other_secret", "hush-hush"),
        ]),
        &defaults(),
    )
    .unwrap();
    let shown = format!(
        "{s:?} {:?} {}",
        s.connection.auth,
        Secret::new(seed.clone())
    );
    for secret in [JWT, seed.as_str(), "hush-hush"] {
        assert!(!shown.contains(secret), "leaked in {shown}");
    }
    assert!(shown.contains("ctl_seed"), "keys are shown: {shown}");

    let mut d = defaults();
    d.rpc_credentials = Some((Secret::new(JWT), Secret::new(seed.clone())));
    assert!(!format!("{d:?}").contains(&seed));

    // a malformed seed: refused, the message names the key but not the value
    let bad_seed = "SUNOTAREALSEEDATALLBUTLONGENOUGHTOLOOKLIKEONE0123456789";
    let e = resolve(
        &map(&[("nats_url", "nats://a:1")]),
        &secrets(&[("nats_jwt", JWT), ("nats_seed", bad_seed)]),
        &defaults(),
    )
    .unwrap_err();
    assert_eq!(e.key, "nats_seed", "the name the user wrote");
    assert!(!e.to_string().contains(bad_seed));
    assert!(!e.to_string().contains(JWT));
}

#[test]
fn url_user_info_is_not_echoed_in_errors() {
    let e = resolve(
        &map(&[("nats_url", "nats://user:pa ss@host:4222:9")]),
        &HashMap::new(),
        &defaults(),
    )
    .unwrap_err();
    assert_eq!(e.key, NATS_URL);
    assert!(!e.to_string().contains("pa ss"), "{e}");
}

#[test]
fn secret_bytes_are_read_as_text() {
    let raw: HashMap<String, SecretValue> = [
        ("a".to_string(), SecretValue::Bytes(b"text".to_vec())),
        ("b".to_string(), SecretValue::Bytes(vec![0xff, 0xfe])),
        ("c".to_string(), SecretValue::String("s".into())),
    ]
    .into();
    let got = secret_strings(&raw);
    assert_eq!(got.get("a").map(Secret::expose), Some("text"));
    assert!(!got.contains_key("b"));
    assert_eq!(got.get("c").map(Secret::expose), Some("s"));
}

#[test]
fn key_table_is_lower_case_unique_and_complete() {
    let mut seen = std::collections::HashSet::new();
    for spec in KEYS {
        assert_eq!(spec.key, spec.key.to_ascii_lowercase());
        assert!(seen.insert(spec.key), "duplicate {}", spec.key);
        assert!(!spec.description.is_empty());
    }
    for key in CONNECTION_KEYS {
        assert!(seen.contains(key), "{key} missing from KEYS");
    }
    let secret: Vec<&str> = KEYS.iter().filter(|s| s.secret).map(|s| s.key).collect();
    assert_eq!(secret, [CTL_JWT, CTL_SEED]);
}

#[test]
fn names_of_wash_and_the_nats_providers_are_aliases() {
    let seed = user_seed();
    let cfg = map(&[
        ("CTL_HOST", "ctl.example"),
        ("ctl_port", "4333"),
        ("ctl_tls_first", "true"),
    ]);
    let s = resolve(
        &cfg,
        &secrets(&[("ctl_jwt", JWT), ("ctl_seed", &seed)]),
        &defaults(),
    )
    .unwrap();
    assert_eq!(
        s.connection.urls,
        vec!["nats://ctl.example:4333".to_string()]
    );
    assert!(s.connection.tls_first);
    assert!(matches!(s.connection.auth, Auth::Jwt { .. }));
    assert_eq!(s.values.get(CTL_HOST), Some("ctl.example"));

    let s = resolve(
        &map(&[("cluster_uris", "nats://a:4222,nats://b:4222")]),
        &secrets(&[("client_jwt", JWT), ("client_seed", &seed)]),
        &defaults(),
    )
    .unwrap();
    assert_eq!(s.connection.urls.len(), 2);
    assert!(matches!(s.connection.auth, Auth::Jwt { .. }));

    // the same value under both names is fine; different values are refused, naming both
    let same = map(&[("ctl_host", "h"), ("nats_host", "h")]);
    assert!(resolve(&same, &HashMap::new(), &defaults()).is_ok());
    let clash = map(&[("ctl_host", "h1"), ("nats_host", "h2")]);
    let e = resolve(&clash, &HashMap::new(), &defaults()).unwrap_err();
    assert_eq!(e.key, "nats_host", "the later of the two names, as written");
    assert!(
        e.reason.contains("ctl_host") && e.reason.contains("nats_host"),
        "{}",
        e.reason
    );
    // across sources the usual precedence holds: a link's alias overrides a provider default
    let mut d = defaults();
    d.config = map(&[("nats_host", "from-provider")]);
    let s = resolve(&map(&[("ctl_host", "from-link")]), &HashMap::new(), &d).unwrap();
    assert_eq!(s.values.get(CTL_HOST), Some("from-link"));
}

#[test]
fn inline_ca_is_checked_and_never_quoted() {
    let s = resolve(
        &map(&[("nats_url", "tls://a:1")]),
        &secrets(&[("tls_ca", TEST_CA)]),
        &defaults(),
    )
    .unwrap();
    assert_eq!(
        s.connection.tls_ca.as_ref().map(Secret::expose),
        Some(TEST_CA.trim())
    );
    assert!(!format!("{s:?}").contains("BEGIN CERTIFICATE"));
    assert!(root_store(TEST_CA).is_ok());
    // a damaged certificate: refused naming the key, without the text
    let damaged = TEST_CA.replacen("MI", "XX", 1);
    for bad_pem in [
        damaged.as_str(),
        "hello",
        "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
    ] {
        let e = resolve(&map(&[("tls_ca", bad_pem)]), &HashMap::new(), &defaults()).unwrap_err();
        assert_eq!(e.key, TLS_CA);
        assert!(
            !e.to_string().contains("BEGIN") && !e.to_string().contains("hello"),
            "{e}"
        );
    }
    // beside a CA file, under either of its names
    for file_key in ["ctl_tls_ca_file", "tls_ca_file"] {
        let e = resolve(
            &map(&[("tls_ca", TEST_CA), (file_key, "/ca.pem")]),
            &HashMap::new(),
            &defaults(),
        )
        .unwrap_err();
        assert_eq!(e.key, TLS_CA);
        assert!(e.reason.contains(file_key), "{}", e.reason);
    }
}

#[test]
fn key_table_defaults_are_the_code_defaults() {
    let default_of = |key: &str| {
        KEYS.iter()
            .find(|s| s.key == key)
            .map(|s| s.default)
            .unwrap_or_default()
    };
    assert_eq!(default_of(CTL_HOST), DEFAULT_NATS_HOST);
    assert_eq!(default_of(CTL_PORT), DEFAULT_NATS_PORT.to_string());
    assert_eq!(default_of(TOPIC_PREFIX), DEFAULT_TOPIC_PREFIX);
    assert_eq!(default_of(TIMEOUT_MS), DEFAULT_TIMEOUT_MS.to_string());
    assert_eq!(
        default_of(SCATTER_TIMEOUT_MS),
        DEFAULT_SCATTER_TIMEOUT_MS.to_string()
    );
    let s = resolve(&HashMap::new(), &HashMap::new(), &defaults()).unwrap();
    assert_eq!(s.client.timeout, ctl::DEFAULT_TIMEOUT);
}
