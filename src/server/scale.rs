//! Large platforms on demand (`serve --demo-scale N`): the demo's platform and connectors with
//! N generated connections over realistic contexts, for benchmarks and for trying the dashboard
//! at the size of a real customer base.
//!
//! Generation is deterministic: connection `i` always gets the same id, context, connector and
//! authorization, so seeding again adds nothing (imports insert only what is absent). Each
//! connection copies the enabled flag, connector and authorization of a demo connection picked
//! by a hash of `i`, which reproduces the demo's mix of connectors and healths (including its
//! unknown status strings) at any size. The whole batch is written in one transaction through
//! the store's cached prepared statements.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use super::database::PlatformLocation;
use super::seed;
use super::store::{ImportBatch, ImportReport, NewConnection, SandboxGrantSeed, SandboxSeed};
use crate::model::Context;

/// Average connections per context (the demo has about five).
pub const CONNECTIONS_PER_CONTEXT: usize = 5;

const COMPANY_WORDS: [&str; 24] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Aperture",
    "Massive",
    "Gringotts",
    "Oscorp",
    "Pied",
    "Virtucon",
    "Monarch",
    "Nakatomi",
    "Duff",
    "Ollivander",
    "Krusty",
    "Sirius",
];
const COMPANY_KINDS: [&str; 12] = [
    "Analytics",
    "Logistics",
    "Industries",
    "Labs",
    "Systems",
    "Foods",
    "Health",
    "Robotics",
    "Media",
    "Capital",
    "Energy",
    "Studios",
];

/// The contexts that `connections` generated connections are spread over.
pub fn context_count(connections: usize) -> usize {
    connections.div_ceil(CONNECTIONS_PER_CONTEXT)
}

/// The `external_id` of generated context `index`.
pub fn context_id(index: usize) -> String {
    format!("org_{index:06}")
}

/// The demo platform with `connections` generated connections over [`context_count`] contexts.
pub fn batch(connections: usize) -> Result<ImportBatch> {
    let demo = seed::parse(seed::DEMO, "the bundled demo platform")?;
    anyhow::ensure!(!demo.connections.is_empty() && !demo.contexts.is_empty(), "the demo platform is empty");
    let contexts = (0..context_count(connections)).map(|index| context(index, &demo.contexts)).collect();
    // The sandbox's clients come along so that the catalog can (re)authorize generated
    // connections. The demo's grants do not (their refresh tokens belong to demo connections);
    // each generated refresh token gets a grant of its own, shaped like its template's, so that
    // refresh on read works on a generated platform as it does on the demo.
    let template_grants: HashMap<&str, &SandboxGrantSeed> =
        demo.sandbox.grants.iter().map(|grant| (grant.refresh_token.expose_secret(), grant)).collect();
    let mut grants = Vec::new();
    let connections = (0..connections)
        .map(|index| {
            let (connection, template_grant) = connection(index, &demo.connections, &template_grants);
            grants.extend(template_grant);
            connection
        })
        .collect();
    let sandbox = SandboxSeed { clients: demo.sandbox.clients, grants };
    Ok(ImportBatch {
        platform: demo.platform,
        connectors: demo.connectors,
        contexts,
        connections,
        sandbox,
        origins: demo.origins,
    })
}

/// Seeds the platform in `data_dir` (creating it if needed) with [`batch`]`(connections)`.
pub async fn seed(data_dir: &Path, connections: usize) -> Result<ImportReport> {
    seed_at(&PlatformLocation::DataDir(data_dir.to_owned()), connections).await
}

/// Seeds the platform at `location` (creating it if needed) with [`batch`]`(connections)`.
pub async fn seed_at(location: &PlatformLocation, connections: usize) -> Result<ImportReport> {
    let store = location.open(1).await?;
    let batch = tokio::task::spawn_blocking(move || batch(connections)).await??;
    Ok(store.import(batch).await?)
}

fn context(index: usize, templates: &[Context]) -> Context {
    let hash = mix(index as u64 ^ 0xc0ff_ee00);
    let word = COMPANY_WORDS[(hash % COMPANY_WORDS.len() as u64) as usize];
    let kind = COMPANY_KINDS[((hash >> 16) % COMPANY_KINDS.len() as u64) as usize];
    let template = &templates[index % templates.len()];
    let mut attributes = template.attributes.clone();
    if attributes.contains_key("domain") {
        let domain = format!("{}-{index}.example", word.to_lowercase());
        attributes.insert("domain".into(), Value::String(domain));
    }
    Context {
        external_id: context_id(index),
        external_name: Some(format!("{word} {kind} {index}")),
        attributes,
        ..Default::default()
    }
}

/// Generated connection `index`, and the sandbox grant behind its refresh token when its
/// template's token is a sandbox grant.
fn connection(
    index: usize,
    templates: &[NewConnection],
    template_grants: &HashMap<&str, &SandboxGrantSeed>,
) -> (NewConnection, Option<SandboxGrantSeed>) {
    let hash = mix(index as u64);
    let template = &templates[(hash % templates.len() as u64) as usize];
    let context_external_id = context_id(index / CONNECTIONS_PER_CONTEXT);
    let mut grant = None;
    let authorization = template.authorization.clone().map(|mut authorization| {
        // Every connection gets tokens of its own; the demo's belong to demo connections.
        if authorization.access_token.is_some() {
            authorization.access_token = Some(SecretString::from(format!("demo_at_{hash:016x}")));
        }
        if let Some(template_token) = &authorization.refresh_token {
            let refresh_token = SecretString::from(format!("demo_rt_{hash:016x}_{index}"));
            grant = template_grants.get(template_token.expose_secret()).map(|template| SandboxGrantSeed {
                client_id: template.client_id.clone(),
                subject: context_external_id.clone(),
                scope: template.scope.clone(),
                refresh_token: refresh_token.clone(),
            });
            authorization.refresh_token = Some(refresh_token);
        }
        authorization
    });
    let connection = NewConnection {
        // UUID-shaped like the demo's ids; the last group is the index, so ids never collide.
        id: format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{index:012x}",
            hash >> 32,
            (hash >> 16) & 0xffff,
            hash & 0xfff,
            (hash >> 52) & 0xfff
        ),
        context_external_id,
        connector_slug: template.connector_slug.clone(),
        enabled: template.enabled,
        authorization,
    };
    (connection, grant)
}

/// SplitMix64's finalizer: a fixed, well-spread hash of the index (no RNG whose output could
/// change with a dependency update).
fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
