//! Every public method of the real xkit.js 3.14.1 (npm, unmodified) checked against the
//! Platform API's truth, with a demo context that has an active Slack connection: the seed 003
//! snippet gets the very credential the platform's backend reads (jsdom and Chromium), the
//! `methods` scenario's reads and removals, another context's connection id refused,
//! `setAuthorizationFields` on the demo's API-key connector, and `connectorUrl` opening the
//! catalog with the session (same-site page) or sending the user to log in (cross-site page).

use serde_json::{Value, json};

use crate::support::xkitjs::{PAGE_ORIGIN, XkitJsPlatform, chromium_step, navigations, requests, step};

fn assert_returned(step: &Value) {
    assert_eq!(step["outcome"], "returned", "{step:#}");
}

/// A demo context with an active Slack connection and at least one other enabled connection:
/// its external id and the Slack connection (Platform API's listing). The one whose token
/// expires last, so that no read within the test refreshes (and so rotates) it.
async fn context_with_active_slack(platform: &XkitJsPlatform) -> (String, Value) {
    let listed = platform.platform_api("/connections?connector=slack&status=active").await;
    let mut candidates = listed["connections"].as_array().expect("connections").clone();
    candidates.retain(|connection| connection["authorization"]["refresh_error"].is_null());
    // RFC 3339 UTC timestamps sort as strings; the latest first.
    candidates.sort_by(|a, b| {
        let expiry = |connection: &Value| connection["authorization"]["expires_at"].as_str().unwrap_or("").to_owned();
        expiry(b).cmp(&expiry(a))
    });
    for connection in candidates {
        let external_id = connection["context"]["external_id"].as_str().expect("a context").to_owned();
        if enabled_connection_ids(platform, &external_id).await.len() >= 2 {
            return (external_id, connection);
        }
    }
    panic!("the demo has no context with an active Slack connection and another connection: {listed:#}");
}

/// The ids of the context's enabled connections, per the Platform API, sorted.
async fn enabled_connection_ids(platform: &XkitJsPlatform, external_id: &str) -> Vec<String> {
    let listed = platform.platform_api(&format!("/contexts/{external_id}/connections")).await;
    assert!(listed["next_cursor"].is_null(), "one page: {listed:#}");
    let mut ids: Vec<String> = listed["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter(|connection| connection["enabled"] == true)
        .map(|connection| connection["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The credential the Platform API gives the platform's backend for the context's connection.
async fn platform_credential(platform: &XkitJsPlatform, external_id: &str, slug: &str) -> Value {
    let read = platform.platform_api(&format!("/contexts/{external_id}/connections/{slug}")).await;
    read["connection"]["authorization"]["access_token"].clone()
}

fn sorted_ids(connections: &Value) -> Vec<String> {
    let mut ids: Vec<String> = connections
        .as_array()
        .unwrap_or_else(|| panic!("a list: {connections:#}"))
        .iter()
        .map(|connection| connection["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The snippet, for a context with an active Slack connection: `getConnectionToken("slack")`
/// is the credential the Platform API gives, and the page stays (no redirect to the catalog).
#[tokio::test]
async fn the_snippet_gets_the_platform_apis_slack_credential_in_jsdom_and_chromium() {
    let platform = XkitJsPlatform::start();
    let (external_id, _) = context_with_active_slack(&platform).await;
    let token = platform.context_token(&external_id).await;

    let report = platform.run_node("snippet", PAGE_ORIGIN, &token, &[]).await;
    let snippet = step(&report, "page", "snippet");
    assert_returned(snippet);
    let in_jsdom = snippet["events"][0]["getConnectionToken"].clone();
    assert!(navigations(snippet).is_empty(), "{snippet:#}");

    let report = platform.run_chromium("snippet", &token).await;
    let snippet = chromium_step(&report, "snippet");
    assert_returned(snippet);
    let in_chromium = snippet["events"][0]["getConnectionToken"].clone();
    assert!(navigations(snippet).is_empty(), "{snippet:#}");

    // Read after the pages: a refresh on read during a page would show here as a new value.
    let credential = platform_credential(&platform, &external_id, "slack").await;
    assert!(credential.as_str().is_some_and(|token| !token.is_empty()), "{credential:#}");
    assert_eq!(in_jsdom, credential);
    assert_eq!(in_chromium, credential);
}

/// The `methods` scenario with that context, each answer against the Platform API.
#[tokio::test]
async fn every_method_agrees_with_the_platform_api() {
    let platform = XkitJsPlatform::start();
    let (external_id, slack) = context_with_active_slack(&platform).await;
    let enabled_before = enabled_connection_ids(&platform, &external_id).await;
    // Read before the page: the page disconnects it, and a disabled connection shows no
    // credential. That no read refreshed it in between is checked below (`last_refreshed_at`).
    let credential = platform_credential(&platform, &external_id, "slack").await;
    assert!(credential.as_str().is_some_and(|token| !token.is_empty()), "{credential:#}");
    let token = platform.context_token(&external_id).await;

    let report = platform.run_node("methods", PAGE_ORIGIN, &token, &[]).await;
    let page = |name: &str| step(&report, "page", name).clone();

    let platform_record = page("getPlatform");
    assert_returned(&platform_record);
    assert_eq!(platform_record["value"], platform.platform().await);

    let connectors = page("listConnectors");
    assert_returned(&connectors);
    let listed = platform.platform_api("/connectors").await;
    let slugs = |list: &Value| -> Vec<String> {
        let mut slugs: Vec<String> =
            list.as_array().expect("connectors").iter().map(|each| each["slug"].as_str().unwrap().to_owned()).collect();
        slugs.sort();
        slugs
    };
    assert_eq!(slugs(&connectors["value"]), slugs(&listed["connectors"]));
    let connector = page("getConnector");
    assert_returned(&connector);
    assert_eq!(connector["value"]["slug"], "slack");

    let connections = page("listConnections");
    assert_returned(&connections);
    assert_eq!(sorted_ids(&connections["value"]), enabled_before);
    let slack_connections = page("listConnections by slug");
    assert_returned(&slack_connections);
    assert!(sorted_ids(&slack_connections["value"]).contains(&slack["id"].as_str().unwrap().to_owned()));
    // The library never gets a credential in a listing.
    assert!(!connections.to_string().contains(credential.as_str().unwrap()), "{connections:#}");

    let platform_pick = platform.platform_api(&format!("/contexts/{external_id}/connections/slack")).await;
    let slack_id = platform_pick["connection"]["id"].clone();
    for name in ["getConnection by slug", "getConnection by legacy slug", "getConnection by id"] {
        let read = page(name);
        assert_returned(&read);
        assert_eq!(read["value"]["id"], slack_id, "{name}: {read:#}");
        assert_eq!(read["value"]["enabled"], true, "{name}");
        assert_eq!(read["value"]["authorization"]["status"], "active", "{name}");
    }
    assert_eq!(requests(&page("getConnection by id")), [format!("GET /connection/{} 200", slack_id.as_str().unwrap())]);
    for name in ["getConnectionToken by slug", "getConnectionToken by id"] {
        let read = page(name);
        assert_returned(&read);
        assert_eq!(read["value"], credential, "{name}");
    }
    let either = page("getConnectionOrConnector");
    assert_returned(&either);
    assert_eq!(either["value"]["id"], slack_id);

    // The connector the page picked: the first the library listed that the context lacks.
    let connected: Vec<&str> = connections["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|each| each["connector"]["slug"].as_str().unwrap())
        .collect();
    let unconnected = connectors["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|each| each["slug"].as_str().unwrap())
        .find(|slug| !connected.contains(slug))
        .expect("a connector the context lacks");
    let missing = page("getConnectionToken without connection");
    assert!(missing["call"].as_str().unwrap().contains(unconnected), "{missing:#}");
    assert_returned(&missing);
    assert_eq!(missing["value"], Value::Null);
    assert_eq!(requests(&missing), [format!("GET /connections/{unconnected} 404")]);
    let fallback = page("getConnectionOrConnector without connection");
    assert_returned(&fallback);
    assert_eq!(fallback["value"]["connector"]["slug"], unconnected, "{fallback:#}");
    assert!(fallback["value"]["id"].is_null(), "the connector, not a connection: {fallback:#}");

    let url = page("connectorUrl");
    assert_eq!(url["value"], platform.url("/connectors/slack"));
    assert!(requests(&url).is_empty(), "no request: {url:#}");

    // disconnect(slug) and removeConnection({id}): the Platform API then shows them disabled.
    assert_returned(&page("disconnect"));
    let disconnected = platform.platform_api(&format!("/connections/{}", slack_id.as_str().unwrap())).await;
    assert_eq!(disconnected["connection"]["enabled"], false, "{disconnected:#}");
    let refreshed_at = &disconnected["connection"]["authorization"]["last_refreshed_at"];
    assert_eq!(refreshed_at, &slack["authorization"]["last_refreshed_at"], "not refreshed in between");
    // `disconnect` disabled the context's Slack connections: the read names one, disabled and
    // without a credential (which the library's `getConnectionToken` turns into null).
    let after = page("getConnection after disconnect");
    assert_returned(&after);
    assert_eq!(after["value"]["connector"]["slug"], "slack", "{after:#}");
    assert_eq!(after["value"]["enabled"], false, "{after:#}");
    assert!(after["value"]["authorization"]["access_token"].is_null(), "{after:#}");
    let removed = page("removeConnection by id");
    assert_returned(&removed);
    let removed_id = requests(&removed)[0]
        .strip_prefix("DELETE /connection/")
        .and_then(|rest| rest.strip_suffix(" 200"))
        .unwrap_or_else(|| panic!("{removed:#}"))
        .to_owned();
    assert!(enabled_before.contains(&removed_id) && removed_id != slack_id, "{removed:#}");
    let removed_read = platform.platform_api(&format!("/connections/{removed_id}")).await;
    assert_eq!(removed_read["connection"]["enabled"], false, "{removed_read:#}");
    let enabled_after = enabled_connection_ids(&platform, &external_id).await;
    // `disconnect("slack")` disables every Slack connection of the context.
    let slack_ids = sorted_ids(&slack_connections["value"]);
    let expected: Vec<String> =
        enabled_before.iter().filter(|id| **id != removed_id && !slack_ids.contains(id)).cloned().collect();
    assert_eq!(enabled_after, expected);
    let gone = page("getConnection after removeConnection");
    assert_returned(&gone);
    assert_eq!(gone["value"]["id"], removed_id.as_str(), "{gone:#}");
    assert_eq!(gone["value"]["enabled"], false, "{gone:#}");
    assert!(gone["value"]["authorization"]["access_token"].is_null(), "{gone:#}");

    // logout ends the session: a call needing the user sends the page to log in.
    assert_eq!(requests(&page("logout")), ["DELETE /sessions 204"]);
    let login_page = platform.platform().await["login_redirect_url"].as_str().unwrap().to_owned();
    assert_eq!(navigations(&page("listConnections after logout")), [login_page.as_str()]);
}

/// Another context's connection id: the page gets what it gets for no connection at all (404),
/// never the connection or its credential, and cannot remove it.
#[tokio::test]
async fn another_contexts_connection_id_is_refused() {
    let platform = XkitJsPlatform::start();
    let (owner, foreign) = context_with_active_slack(&platform).await;
    let foreign_id = foreign["id"].as_str().unwrap().to_owned();
    let foreign_credential = platform_credential(&platform, &owner, "slack").await;
    let token = platform.context_token("org_foreign_visitor").await;

    let args = ["--other-connection-id", foreign_id.as_str()];
    let report = platform.run_node_with_args("foreign-connection", PAGE_ORIGIN, &token, &[], &args).await;

    assert_returned(step(&report, "page", "login"));
    let read = step(&report, "page", "getConnection by foreign id");
    assert_eq!(requests(read), [format!("GET /connection/{foreign_id} 404")]);
    assert!(read["value"]["id"].is_null(), "{read:#}");
    let token_read = step(&report, "page", "getConnectionToken by foreign id");
    assert_returned(token_read);
    assert_eq!(token_read["value"], Value::Null);
    let removal = step(&report, "page", "removeConnection by foreign id");
    assert_eq!(removal["outcome"], "threw", "{removal:#}");
    assert_eq!(removal["error"]["statusCode"], 404, "{removal:#}");
    assert!(!report.to_string().contains(foreign_credential.as_str().unwrap()), "the credential leaked: {report:#}");
    let still = platform.platform_api(&format!("/connections/{foreign_id}")).await;
    assert_eq!(still["connection"]["enabled"], true, "{still:#}");
}

/// `setAuthorizationFields` on the demo's API-key connector (SendGrid): the connection the
/// library's `connect()` would start is started over the client API (the popup showing the
/// field's form is not driven), then the page submits the key; the Platform API then gives it.
#[tokio::test]
async fn set_authorization_fields_activates_an_api_key_connection() {
    let platform = XkitJsPlatform::start();
    let external_id = "org_fields_newcomer";
    let token = platform.context_token(external_id).await;
    let started = platform.client_api(reqwest::Method::POST, "/connections/sendgrid", &token, &json!({})).await;
    assert_eq!(started["connection"]["authorization"]["status"], "awaiting_callback", "{started:#}");
    let state = started["connection"]["authorization"]["state"].as_str().expect("a state").to_owned();
    let api_key = "SG.harness-key-for-set-authorization-fields";

    let args = ["--slug", "sendgrid", "--authorization-state", state.as_str(), "--field-name", "api_key"];
    let env = [("XKITJS_FIELD_VALUE", api_key)];
    let report = platform.run_node_with_args("fields", PAGE_ORIGIN, &token, &env, &args).await;

    let submitted = step(&report, "page", "setAuthorizationFields");
    assert_returned(submitted);
    assert_eq!(requests(submitted), ["PUT /authorizations/sendgrid 200"]);
    assert_eq!(submitted["value"]["status"], "active", "{submitted:#}");
    assert!(!submitted.to_string().contains(api_key), "the answer carries no credential: {submitted:#}");
    let token_read = step(&report, "page", "getConnectionToken after setAuthorizationFields");
    assert_eq!(token_read["value"], api_key, "{token_read:#}");
    assert_eq!(platform_credential(&platform, external_id, "sendgrid").await, api_key);
}

/// `connectorUrl(slug)` from a same-site https page: the browser kept the session cookie, so
/// the catalog opens on the context's connections (no login redirect, no "Link needed").
#[tokio::test]
async fn connector_url_opens_the_catalog_logged_in_from_a_same_site_page() {
    let platform = XkitJsPlatform::start();
    let (external_id, slack) = context_with_active_slack(&platform).await;
    let token = platform.context_token(&external_id).await;

    let report = platform.run_chromium_same_site("catalog", &token).await;

    assert!(report["origin"].as_str().unwrap().starts_with("https://127.0.0.1:"), "{report:#}");
    assert_eq!(requests(chromium_step(&report, "login")), ["POST /sessions 200"]);
    let opened = chromium_step(&report, "open connectorUrl");
    assert_eq!(navigations(opened), [platform.url("/connectors/slack")]);
    let landing = &report["landing"];
    assert_eq!(landing["url"], platform.url("/connectors/slack"), "{landing:#}");
    assert_eq!(landing["status"], 200, "{landing:#}");
    let text = landing["text"].as_str().unwrap();
    assert!(text.contains(&format!("Connections of {external_id} to Slack")), "{text}");
    assert!(text.contains(slack["id"].as_str().unwrap()), "{text}");
    if let Some(label) = slack["authorization"]["display_label"].as_str() {
        assert!(text.contains(label), "{text}");
    }
}

/// From a cross-site (http) page Chromium refuses the session cookie as third-party: the
/// catalog gets no session and sends the browser to the platform's `login_redirect_url`.
#[tokio::test]
async fn connector_url_from_a_cross_site_page_goes_to_the_login_page() {
    let platform = XkitJsPlatform::start();
    let (external_id, _) = context_with_active_slack(&platform).await;
    let token = platform.context_token(&external_id).await;
    let login_page = platform.platform().await["login_redirect_url"].as_str().unwrap().to_owned();

    let report = platform.run_chromium("catalog", &token).await;

    assert!(report["origin"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{report:#}");
    assert_eq!(requests(chromium_step(&report, "login")), ["POST /sessions 200"]);
    let opened = chromium_step(&report, "open connectorUrl");
    assert_eq!(navigations(opened), [platform.url("/connectors/slack"), login_page]);
    assert!(!report["landing"]["text"].as_str().unwrap_or("").contains(&external_id), "{report:#}");
}

/// `addConnection(slug, id)` from a click, for a context that already has an active Slack
/// connection (Slack allows several): the popup runs to a new connection under that id, which
/// the Platform API then lists, active, next to the old one.
#[tokio::test]
async fn add_connection_runs_the_popup_to_a_second_connection_under_the_given_id() {
    let platform = XkitJsPlatform::start();
    let (external_id, slack) = context_with_active_slack(&platform).await;
    let enabled_before = enabled_connection_ids(&platform, &external_id).await;
    let token = platform.context_token(&external_id).await;
    let new_id = "harness-added-slack-1";

    let args = ["--connect-call", "addConnection", "--connection-id", new_id];
    let report = platform.run_chromium_with_args("connect", &token, &args).await;

    let added = chromium_step(&report, "connect");
    assert_eq!(added["call"], "addConnection(slug, id) from a click");
    assert_returned(added);
    assert_eq!(added["value"]["id"], new_id, "{added:#}");
    assert_eq!(added["value"]["enabled"], true, "{added:#}");
    let read = platform.platform_api(&format!("/connections/{new_id}")).await;
    assert_eq!(read["connection"]["context"]["external_id"], external_id.as_str(), "{read:#}");
    assert_eq!(read["connection"]["authorization"]["status"], "active", "{read:#}");
    let mut expected = enabled_before.clone();
    expected.push(new_id.to_owned());
    expected.sort();
    assert_eq!(enabled_connection_ids(&platform, &external_id).await, expected);
    let old = platform.platform_api(&format!("/connections/{}", slack["id"].as_str().unwrap())).await;
    assert_eq!(old["connection"]["authorization"]["status"], "active", "the old one stays: {old:#}");
}

/// `reconnect(connection)` from a click: the same connection is authorized again through the
/// popup; the page's new credential is the one the Platform API then gives, and no connection
/// is added.
#[tokio::test]
async fn reconnect_authorizes_the_same_connection_again() {
    let platform = XkitJsPlatform::start();
    let (external_id, slack) = context_with_active_slack(&platform).await;
    let enabled_before = enabled_connection_ids(&platform, &external_id).await;
    let old_credential = platform_credential(&platform, &external_id, "slack").await;
    let token = platform.context_token(&external_id).await;

    let report = platform.run_chromium_with_args("connect", &token, &["--connect-call", "reconnect"]).await;

    let read_first = chromium_step(&report, "getConnection before reconnect");
    assert_eq!(read_first["value"]["id"], slack["id"], "{read_first:#}");
    let reconnected = chromium_step(&report, "connect");
    assert_eq!(reconnected["call"], "reconnect(connection) from a click");
    assert_returned(reconnected);
    assert_eq!(reconnected["value"]["id"], slack["id"], "{reconnected:#}");
    let credential = chromium_step(&report, "getConnectionToken after connect");
    let new_credential = platform_credential(&platform, &external_id, "slack").await;
    assert_eq!(credential["value"], new_credential);
    assert_ne!(new_credential, old_credential, "a new authorization, a new credential");
    assert_eq!(enabled_connection_ids(&platform, &external_id).await, enabled_before);
}
