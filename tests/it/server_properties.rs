//! Property test of the Platform API over real HTTP: generated requests (any method, route,
//! path segment, query string, body, content type and credentials) always get a 2xx or a 4xx
//! with a JSON `{"error": ...}`, never a 5xx, and a refused request leaves the platform exactly
//! as it was.

use std::cell::RefCell;

use crate::support::server::TestPlatform;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRng, TestRunner};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

/// Connectors without OAuth settings, so no request can make the server call out of loopback.
const SEED: &str = r#"{
  "platform": {"name": "Property Test", "slug": "property-test"},
  "connectors": [{"slug": "slack", "name": "Slack", "supports_multiple_connections": true}, {"slug": "github", "name": "GitHub"}],
  "contexts": [{"external_id": "alpha", "external_name": "Alpha"}, {"external_id": "beta"}],
  "connections": [
    {"id": "conn-1", "context": "alpha", "connector": "slack", "authorization": {"status": "active", "access_token": "t1"}},
    {"id": "conn-2", "context": "alpha", "connector": "github", "authorization": {"status": "error", "error_code": "invalid_grant"}},
    {"id": "conn-3", "context": "beta", "connector": "slack", "enabled": false}
  ]
}"#;

/// How many generated requests one run sends.
const CASES: u32 = 400;

#[derive(Debug, Clone)]
enum Credentials {
    Valid,
    WrongSecret,
    None,
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    Raw { content_type: Option<&'static str>, bytes: Vec<u8> },
}

#[derive(Clone)]
struct GeneratedRequest {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Body,
    credentials: Credentials,
}

/// Long generated strings are shown by their start and length, so a failure stays readable.
impl std::fmt::Debug for GeneratedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let query: Vec<_> = self.query.iter().map(|(key, value)| (short(key), short(value))).collect();
        let body = match &self.body {
            Body::None => "none".to_owned(),
            Body::Json(value) => short(&value.to_string()),
            Body::Raw { content_type, bytes } => format!("{content_type:?}, {} bytes", bytes.len()),
        };
        f.debug_struct("GeneratedRequest")
            .field("method", &self.method)
            .field("path", &short(&self.path))
            .field("query", &query)
            .field("body", &body)
            .field("credentials", &self.credentials)
            .finish()
    }
}

fn short(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}... ({} chars)", &text[..end], text.chars().count()),
        None => text.to_owned(),
    }
}

/// A path segment: a known id, arbitrary text, or something long enough to hurt a naive server.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["alpha", "beta", "gamma", "slack", "github", "conn-1", "conn-2", "conn-3"])
            .prop_map(str::to_owned),
        4 => ".{0,24}",
        1 => (1_000usize..5_000).prop_map(|n| "%_".repeat(n)),
        1 => (1_000usize..20_000).prop_map(|n| "a".repeat(n)),
        1 => Just(String::new()),
    ]
}

fn encoded(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

fn path() -> impl Strategy<Value = String> {
    let templates = vec![
        "/context",
        "/contexts",
        "/contexts/{a}",
        "/contexts/{a}/connections",
        "/contexts/{a}/connections/{b}",
        "/contexts/{a}/connections/{b}/repair_link",
        "/connections",
        "/connections/{a}",
        "/connections/{a}/refresh",
        "/connections/{a}/{b}",
        "/connectors",
        "/events",
        "/events/refreshes",
        // Not `POST /webhooks`: a drawn URL would be resolved by DNS, off this machine.
        "/webhooks/deliveries",
        "/webhooks/{a}",
        "/webhooks/{a}/test",
        "/webhooks/{a}/enable",
        "/users",
        "/users/{a}/connections/{b}",
        "/groups/{a}/connections/{b}",
        "/{a}",
    ];
    // The list routes take the most query parameters: they are drawn more often.
    let template = prop_oneof![3 => prop::sample::select(vec!["/contexts", "/connections", "/events"]), 5 => prop::sample::select(templates)];
    (template, segment(), segment())
        .prop_map(|(template, a, b)| template.replace("{a}", &encoded(&a)).replace("{b}", &encoded(&b)))
}

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("0".to_owned()),
        1 => Just("-1".to_owned()),
        1 => Just("1".to_owned()),
        1 => Just("1000".to_owned()),
        1 => Just("1001".to_owned()),
        1 => Just("99999999999999999999999".to_owned()),
        1 => Just("active".to_owned()),
        1 => Just("error".to_owned()),
        2 => ".{0,16}",
        1 => (1_000usize..10_000).prop_map(|n| "%_".repeat(n)),
        // Past SQLite's 50,000-byte LIKE pattern limit, as an unencoded query value.
        2 => (49_000usize..60_000).prop_map(|n| "a".repeat(n)),
    ]
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    let key = prop_oneof![
        2 => Just("search".to_owned()),
        4 => prop::sample::select(vec![
            "limit", "cursor", "search", "status", "connector", "context", "token", "after", "type", "since", "wait",
        ])
            .prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ];
    prop::collection::vec((key, query_value()), 0..4)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
        (1_000usize..100_000).prop_map(|n| Value::from(" ".repeat(n))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,14}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Bodies shaped like the API's own (so validation, not just parsing, is exercised).
fn context_body() -> impl Strategy<Value = Value> {
    (segment(), prop::option::of(json_value()), prop::option::of(json_value())).prop_map(|(id, name, extra)| {
        let mut context = json!({ "external_id": id });
        if let Some(name) = name {
            context["external_name"] = name;
        }
        if let Some(extra) = extra {
            context["custom"] = extra;
        }
        json!({ "context": context })
    })
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        2 => Just(Body::None),
        3 => json_value().prop_map(Body::Json),
        3 => context_body().prop_map(Body::Json),
        2 => (prop::sample::select(vec![Some("application/json"), Some("application/x-www-form-urlencoded"), Some("text/plain"), None]),
         prop::collection::vec(any::<u8>(), 0..256))
            .prop_map(|(content_type, bytes)| Body::Raw { content_type, bytes }),
    ]
}

fn request() -> impl Strategy<Value = GeneratedRequest> {
    let method = prop::sample::select(vec![Method::GET, Method::POST, Method::PATCH, Method::DELETE, Method::PUT]);
    let credentials =
        prop_oneof![8 => Just(Credentials::Valid), 1 => Just(Credentials::WrongSecret), 1 => Just(Credentials::None)];
    let any_request =
        (method, path(), query(), body(), credentials).prop_map(|(method, path, query, body, credentials)| {
            GeneratedRequest { method, path, query, body, credentials }
        });
    // One parameter alone on a list route, so that it is not hidden behind another one's refusal.
    let one_list_parameter =
        (prop::sample::select(vec!["/contexts", "/connections", "/events"]), query(), query_value()).prop_map(
            |(path, mut query, value)| {
                query.truncate(1);
                if let Some((_, first)) = query.first_mut() {
                    *first = value;
                }
                GeneratedRequest {
                    method: Method::GET,
                    path: path.to_owned(),
                    query,
                    body: Body::None,
                    credentials: Credentials::Valid,
                }
            },
        );
    prop_oneof![4 => any_request, 1 => one_list_parameter]
}

/// Everything the API shows of the platform: contexts, connectors, connections.
async fn snapshot(platform: &TestPlatform) -> Value {
    json!({
        "contexts": platform.all_pages("/contexts", "contexts", 1000).await,
        "connectors": platform.all_pages("/connectors", "connectors", 1000).await,
        "connections": platform.all_pages("/connections", "connections", 1000).await,
    })
}

fn url_of(platform: &TestPlatform, generated: &GeneratedRequest) -> reqwest::Url {
    let mut url = reqwest::Url::parse(&platform.platform_url(&generated.path)).expect("generated paths are encoded");
    if !generated.query.is_empty() {
        url.query_pairs_mut().extend_pairs(&generated.query);
    }
    url
}

/// `http` keeps no idle connections: a server may close a connection after refusing a request,
/// which must not be mistaken for a dropped request.
async fn send(
    http: &reqwest::Client,
    platform: &TestPlatform,
    generated: &GeneratedRequest,
) -> Result<(StatusCode, String), reqwest::Error> {
    let mut request = http.request(generated.method.clone(), url_of(platform, generated));
    request = match generated.credentials {
        Credentials::Valid => {
            request.basic_auth(&platform.keys.publishable_key, Some(platform.keys.secret_key.expose_secret()))
        }
        Credentials::WrongSecret => request.basic_auth(&platform.keys.publishable_key, Some("xks_wrong")),
        Credentials::None => request,
    };
    request = match &generated.body {
        Body::None => request,
        Body::Json(value) => request.json(value),
        Body::Raw { content_type, bytes } => {
            let request = request.body(bytes.clone());
            match content_type {
                Some(content_type) => request.header(reqwest::header::CONTENT_TYPE, *content_type),
                None => request,
            }
        }
    };
    let response = request.send().await?;
    let status = response.status();
    Ok((status, response.text().await?))
}

#[test]
fn any_platform_api_request_gets_a_2xx_or_a_json_4xx_and_a_refusal_changes_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let platform = runtime.block_on(TestPlatform::seeded(SEED));
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let known = RefCell::new(runtime.block_on(snapshot(&platform)));

    // A fixed seed: every run sends the same requests, so a failure reproduces and CI never flakes.
    let config = Config { cases: CASES, failure_persistence: None, ..Config::default() };
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&request(), |generated| {
        // The HTTP stack refuses URIs past 64 KiB before they are sent.
        prop_assume!(url_of(&platform, &generated).as_str().len() < 65_000);
        let (status, text) = runtime
            .block_on(send(&http, &platform, &generated))
            .map_err(|error| TestCaseError::fail(format!("the server dropped the request: {error}")))?;
        let shown = || {
            format!(
                "{} {} -> {status}: {}",
                generated.method,
                generated.path,
                text.chars().take(300).collect::<String>()
            )
        };
        prop_assert!(!status.is_server_error(), "a 5xx: {}", shown());
        let after = runtime.block_on(snapshot(&platform));
        if status.is_success() {
            *known.borrow_mut() = after;
            return Ok(());
        }
        prop_assert!(status.is_client_error(), "neither 2xx nor 4xx: {}", shown());
        let body: Value =
            serde_json::from_str(&text).map_err(|_| TestCaseError::fail(format!("not JSON: {}", shown())))?;
        prop_assert!(
            body["error"].as_str().is_some_and(|message| !message.is_empty()),
            "no error message: {}",
            shown()
        );
        prop_assert!(after == *known.borrow(), "a refused request changed the platform: {}", shown());
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    runtime.block_on(platform.server.shutdown());
}
