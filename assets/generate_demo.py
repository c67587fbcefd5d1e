#!/usr/bin/env python3
"""Generates assets/demo-platform.json, the bundled demo platform (deterministic: fixed seed).

Run `python3 assets/generate_demo.py` after editing; the JSON is committed and embedded in the
binary. Times are relative ("now+50m") so tokens stay fresh or expired whenever the demo loads.
Tokens are obviously fake (`demo_...`), never shaped like a real provider's secrets.

Every connector authorizes against the server's own sandbox OAuth2 provider (relative URLs,
resolved against the address the server runs on), never a real provider, so the demo stays
offline. Each seeded refresh token is also a sandbox grant: expired demo tokens really refresh,
and revoking a grant on the sandbox's page really breaks its connection.
"""

import json
import random
import uuid
from pathlib import Path

rng = random.Random(20240611)

PLATFORM = {
    "name": "Northwind Analytics",
    "slug": "northwind",
    "website": "https://northwind-analytics.example",
    "login_redirect_url": "https://northwind-analytics.example/login",
}

# slug, name, short description, supports multiple, expiring tokens, scopes, (error code, message) of a dead grant
CONNECTORS = [
    ("slack", "Slack", "Send alerts and digests to channels", True, True, "chat:write channels:read",
     ("invalid_refresh_token", "The refresh token is invalid or has been revoked.")),
    ("github", "GitHub", "Sync repositories, issues and pull requests", True, True, "repo read:org",
     ("bad_refresh_token", "The refresh token passed is incorrect or expired.")),
    ("salesforce", "Salesforce", "Read accounts, contacts and opportunities", False, True, "api refresh_token",
     ("invalid_grant", "expired access/refresh token")),
    ("hubspot", "HubSpot", "Import contacts, companies and deals", False, True, "crm.objects.contacts.read",
     ("invalid_grant", "missing or invalid refresh token")),
    ("google-drive", "Google Drive", "Attach and index documents from Drive", True, True,
     "https://www.googleapis.com/auth/drive.readonly", ("invalid_grant", "Token has been expired or revoked.")),
    ("zendesk", "Zendesk", "Create tickets from anomalies", False, True, "tickets:write read",
     ("invalid_grant", "The provided authorization grant is invalid, expired, or revoked")),
    ("jira", "Jira", "Open issues from dashboards", False, True, "read:jira-work write:jira-work offline_access",
     ("invalid_grant", "Unknown or invalid refresh token.")),
    ("notion", "Notion", "Publish reports to Notion pages", True, False, "",
     ("unauthorized", "API token is invalid.")),
    ("asana", "Asana", "Turn insights into Asana tasks", False, True, "default",
     ("invalid_grant", "The refresh token is invalid or has expired.")),
    ("stripe", "Stripe", "Revenue metrics from charges and subscriptions", False, True, "read_only",
     ("invalid_grant", "This refresh token has been revoked by the account.")),
    ("intercom", "Intercom", "Enrich conversations with usage data", False, False, "",
     ("token_revoked", "The access token was revoked by the workspace admin.")),
    ("dropbox", "Dropbox", "Back up exports to Dropbox", True, True, "files.content.write",
     ("invalid_grant", "refresh token has been revoked")),
    ("microsoft-teams", "Microsoft Teams", "Post alerts to Teams channels", True, True,
     "ChannelMessage.Send offline_access",
     ("invalid_grant", "AADSTS700082: The refresh token has expired due to inactivity.")),
    ("linear", "Linear", "Create Linear issues from alerts", False, False, "read write",
     ("invalid_grant", "Refresh token is invalid.")),
]

ABOUT = {
    "slack": "Slack is a messaging app for business that connects people to the information they need.",
    "github": "GitHub is where over 100 million developers shape the future of software.",
    "salesforce": "Salesforce is the world's #1 customer relationship management (CRM) platform.",
    "hubspot": "HubSpot is a CRM platform with marketing, sales, content management and customer service.",
    "google-drive": "Google Drive stores, shares and collaborates on files and folders from any device.",
    "zendesk": "Zendesk is a service-first CRM company that builds support, sales and engagement software.",
    "jira": "Jira is the project tracking tool for agile teams, from Atlassian.",
    "notion": "Notion is the connected workspace where better, faster work happens.",
    "asana": "Asana helps teams orchestrate their work, from small projects to strategic initiatives.",
    "stripe": "Stripe is a financial infrastructure platform for businesses.",
    "intercom": "Intercom is the complete AI-first customer service solution.",
    "dropbox": "Dropbox brings files, cloud content and web shortcuts together in one place.",
    "microsoft-teams": "Microsoft Teams brings chat, meetings, calling and collaboration together.",
    "linear": "Linear streamlines issues, projects and product roadmaps.",
}

AUTHORIZE_URLS = {
    "slack": "https://slack.com/oauth/v2/authorize",
    "github": "https://github.com/login/oauth/authorize",
    "salesforce": "https://login.salesforce.com/services/oauth2/authorize",
    "hubspot": "https://app.hubspot.com/oauth/authorize",
    "google-drive": "https://accounts.google.com/o/oauth2/v2/auth",
    "zendesk": "https://northwind.zendesk.com/oauth/authorizations/new",
    "jira": "https://auth.atlassian.com/authorize",
    "notion": "https://api.notion.com/v1/oauth/authorize",
    "asana": "https://app.asana.com/-/oauth_authorize",
    "stripe": "https://connect.stripe.com/oauth/authorize",
    "intercom": "https://app.intercom.com/oauth",
    "dropbox": "https://www.dropbox.com/oauth2/authorize",
    "microsoft-teams": "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    "linear": "https://linear.app/oauth/authorize",
}

# Errors from the authorization step itself (RFC 6749 section 4.1.2.1), any connector.
AUTHORIZE_ERRORS = [
    ("access_denied", "The user denied the request."),
    ("access_denied", "The resource owner or authorization server denied the request."),
    ("invalid_scope", "The requested scope is invalid, unknown, or malformed."),
    ("temporarily_unavailable",
     "The authorization server is currently unable to handle the request due to a temporary overloading or "
     "maintenance of the server."),
    ("server_error", "The authorization server encountered an unexpected condition that prevented it from "
     "fulfilling the request."),
    ("unauthorized_client", "The client is not authorized to request an authorization code using this method."),
]

FIRST = ["Maya", "Liam", "Sofia", "Noah", "Aisha", "Lucas", "Hana", "Mateo", "Zoe", "Ethan", "Priya", "Jonas",
         "Amara", "Diego", "Yuki", "Omar", "Clara", "Felix", "Ines", "Kofi", "Elena", "Ravi", "Nora", "Tobias",
         "Leila", "Marco", "Freya", "Samir", "Ana", "Hugo", "Mei", "Arjun", "Lena", "Idris", "Chloe", "Bruno",
         "Sara", "Theo", "Nadia", "Oskar"]
LAST = ["Chen", "Okafor", "Rossi", "Schmidt", "Haddad", "Silva", "Tanaka", "Garcia", "Novak", "Dubois", "Patel",
        "Larsen", "Mensah", "Moreno", "Sato", "Farouk", "Weber", "Lindqvist", "Costa", "Asante", "Petrova",
        "Iyer", "Berg", "Keller", "Nasser", "Bianchi", "Johansson", "Aziz", "Pereira", "Laurent", "Wong",
        "Mehta", "Fischer", "Bello", "Martin", "Almeida", "Cohen", "Nguyen", "Popescu", "Kowalski"]
COMPANIES = [("acme", "Acme Corporation", "acme.example"), ("globex", "Globex Industries", "globex.example"),
             ("initech", "Initech", "initech.example"), ("umbrella", "Umbrella Health", "umbrella-health.example"),
             ("hooli", "Hooli", "hooli.example"), ("stark", "Stark Logistics", "stark-logistics.example"),
             ("wayne", "Wayne Foundation", "wayne.example"), ("tyrell", "Tyrell Robotics", "tyrell.example"),
             ("soylent", "Soylent Foods", "soylent.example"), ("wonka", "Wonka Confections", "wonka.example"),
             ("cyberdyne", "Cyberdyne Systems", "cyberdyne.example"), ("oscorp", "Oscorp Labs", "oscorp.example"),
             ("vandelay", "Vandelay Imports", "vandelay.example"), ("pied-piper", "Pied Piper", "piedpiper.example"),
             ("aperture", "Aperture Science", "aperture.example"), ("massive", "Massive Dynamic", "massive.example"),
             ("gringotts", "Gringotts Bank", "gringotts.example"), ("dunder", "Dunder Mifflin", "dunder.example"),
             ("prestige", "Prestige Worldwide", "prestige.example"), ("nakatomi", "Nakatomi Trading", "nakatomi.example"),
             ("bluth", "Bluth Company", "bluth.example"), ("monarch", "Monarch Solutions", "monarch.example"),
             ("sirius", "Sirius Cybernetics", "sirius.example"), ("zorg", "Zorg Industries", "zorg.example")]
PLANS = ["free", "starter", "growth", "enterprise"]
REGIONS = ["us-east", "us-west", "eu-central", "eu-west", "ap-southeast"]
ROLES = ["admin", "analyst", "engineer", "ops", "finance"]


def fake_token(kind, slug):
    return f"demo_{kind}_{slug.replace('-', '')}_{rng.getrandbits(160):040x}"


def new_id():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def minutes(low, high):
    return rng.randint(low, high)


# Connectors that collect an API key instead of an OAuth2 authorization (xkit.js's
# setAuthorizationFields). Listed after the rest and given no seeded connections, so adding
# one leaves the random draw of everything else as it was.
FIELD_CONNECTORS = [{
    "slug": "sendgrid",
    "name": "SendGrid",
    "short_description": "Send transactional email with your API key",
    "mark_url": "https://cdn.simpleicons.org/sendgrid",
    "about": "SendGrid is an email delivery service for transactional and marketing email.",
    "description": "Connect SendGrid to Northwind Analytics to **send transactional email with your API key**."
                   "\n\nPaste an API key: SendGrid has no OAuth2 authorization.",
    "supports_multiple_connections": False,
    "credential_field": "api_key",
}]


def connector_json(spec):
    slug, name, short, multiple, _expiring, scopes, _dead = spec
    connector = {
        "slug": slug,
        "name": name,
        "short_description": short,
        "mark_url": f"https://cdn.simpleicons.org/{slug.replace('-', '')}",
        "about": ABOUT[slug],
        "description": f"Connect {name} to Northwind Analytics to **{short[0].lower() + short[1:]}**."
                       + (f"\n\nScopes requested: `{scopes}`." if scopes else ""),
        "supports_multiple_connections": multiple,
        "oauth": {
            "authorize_url": "/sandbox/oauth/authorize",
            "token_url": "/sandbox/oauth/token",
            "client_id": sandbox_client_id(slug),
            "client_secret": sandbox_client_secret(slug),
            "scopes": scopes.split(),
        },
    }
    return connector


def sandbox_client_id(slug):
    return f"northwind-{slug}"


def sandbox_client_secret(slug):
    # Public on purpose: the sandbox only ever holds toy grants.
    return f"sandbox-secret-{slug}"


# The sandbox client whose access tokens live one minute: the proactive refresh scheduler
# refreshes its connections every half minute or so, so revoking one of their grants on the
# sandbox's page turns the connection into `connection.error` within a minute, with nobody
# reading it. Its seeded tokens expire a minute after the demo loads, for the same reason.
SHORT_LIVED = "zendesk"


def short_lived(connections):
    """Makes the seeded tokens of SHORT_LIVED connections expire a minute after loading (draws
    nothing from the random generator, so every other value stays as it was)."""
    for connection in connections:
        auth = connection.get("authorization", {})
        if connection["connector"] == SHORT_LIVED and "refresh_token" in auth:
            auth["expires_at"] = "now+1m"


def sandbox(connections, contexts_by_id):
    """The sandbox provider's clients (one per connector) and a grant per seeded refresh token."""
    clients = [{
        "client_id": sandbox_client_id(spec[0]),
        "client_secret": sandbox_client_secret(spec[0]),
        "name": f"{spec[1]} (sandbox)",
        "redirect_uris": ["/catalog/oauth/callback"],
        "access_token_ttl": "1m" if spec[0] == SHORT_LIVED else "1h",
        "refresh_token_ttl": "90d",
    } for spec in CONNECTORS]
    scopes = {spec[0]: spec[5] for spec in CONNECTORS}
    grants = [{
        "client_id": sandbox_client_id(connection["connector"]),
        "subject": contexts_by_id[connection["context"]]["external_id"],
        "scope": scopes[connection["connector"]],
        "refresh_token": connection["authorization"]["refresh_token"],
    } for connection in connections if "refresh_token" in connection.get("authorization", {})]
    return {"clients": clients, "grants": grants}


def contexts():
    result = []
    for key, name, domain in COMPANIES:
        result.append({
            "external_id": f"org_{key}",
            "external_name": name,
            "kind": "company",
            "domain": domain,
            "plan": rng.choice(PLANS),
            "seats": rng.choice([5, 12, 25, 40, 80, 150, 400]),
            "region": rng.choice(REGIONS),
        })
    people = rng.sample([(f, l) for f in FIRST for l in LAST], 44)
    for first, last in people:
        key, company, domain = rng.choice(COMPANIES)
        result.append({
            "external_id": f"usr_{rng.getrandbits(40):010x}",
            "external_name": f"{first} {last}",
            "kind": "user",
            "email": f"{first.lower()}.{last.lower()}@{domain}",
            "company_id": f"org_{key}",
            "role": rng.choice(ROLES),
            "plan": rng.choice(PLANS),
        })
    return result


def label_for(context, spec):
    slug = spec[0]
    if context["kind"] == "user":
        return context["email"]
    workspace = context["domain"].split(".")[0]
    if slug == "slack":
        return f"{context['external_name']} ({workspace}.slack.com)"
    if slug == "github":
        return f"{workspace}-eng"
    if slug in ("zendesk", "jira"):
        return f"{workspace}.{'zendesk.com' if slug == 'zendesk' else 'atlassian.net'}"
    return f"ops@{context['domain']}"


def authorization(context, spec, health):
    slug, _name, _short, _multiple, expiring, scopes, dead = spec
    base = {"display_label": label_for(context, spec)}
    if health in ("active", "expired", "expiring", "refresh_failing"):
        auth = dict(base, status="active", access_token=fake_token("at", slug))
        if expiring:
            auth["refresh_token"] = fake_token("rt", slug)
            auth["last_refreshed_at"] = f"now-{minutes(10, 600)}m"
            auth["expires_at"] = {
                "active": f"now+{minutes(20, 720)}m",
                "expired": f"now-{minutes(5, 2880)}m",
                "expiring": f"now+{minutes(1, 4)}m",
                "refresh_failing": f"now+{minutes(6, 40)}m",
            }[health]
            if health == "refresh_failing":
                auth["refresh_error"] = rng.choice([
                    "token endpoint answered 503 Service Unavailable; retrying",
                    "token endpoint timed out after 10s; retrying",
                    "token endpoint answered 429 Too Many Requests (Retry-After: 60); retrying",
                ])
        return auth
    if health == "pending":
        state = f"st_{rng.getrandbits(96):024x}"
        query = f"client_id=northwind-{slug}&response_type=code&state={state}"
        if scopes:
            query += "&scope=" + scopes.replace(" ", "%20").replace(":", "%3A").replace("/", "%2F")
        if rng.random() < 0.75:
            return dict(base, status="awaiting_callback", state=state,
                        authorize_url=f"{AUTHORIZE_URLS[slug]}?{query}")
        return dict(base, status="retrieving_tokens", state=state)
    if health == "error":
        code, message = dead if rng.random() < 0.6 else rng.choice(AUTHORIZE_ERRORS)
        return dict(base, status="error", error_code=code, error_message=message,
                    last_refreshed_at=f"now-{minutes(60, 20000)}m")
    if health == "unknown":
        return dict(base, status=rng.choice(["suspended", "revoked_by_admin", "migrating"]))
    raise ValueError(health)


# Relative weights of what a connection looks like; "bare" is enabled with no authorization.
HEALTH_WEIGHTS = [("active", 56), ("expired", 8), ("expiring", 3), ("refresh_failing", 3), ("pending", 8),
                  ("error", 12), ("disabled", 6), ("unknown", 2), ("bare", 2)]


def pick_health():
    names = [name for name, _ in HEALTH_WEIGHTS]
    weights = [weight for _, weight in HEALTH_WEIGHTS]
    return rng.choices(names, weights)[0]


def connection(context, spec, health):
    result = {"id": new_id(), "context": context["external_id"], "connector": spec[0]}
    if health == "bare":
        return result
    if health == "disabled":
        result["enabled"] = False
        result["authorization"] = authorization(context, spec, rng.choice(["active", "error"]))
        if "access_token" in result["authorization"]:
            # A disabled connection keeps no usable credential.
            del result["authorization"]["access_token"]
            result["authorization"].pop("refresh_token", None)
        return result
    result["authorization"] = authorization(context, spec, health)
    return result


def main():
    all_contexts = contexts()
    connections = []
    for context in all_contexts:
        count = rng.randint(3, 8) if context["kind"] == "company" else rng.randint(3, 6)
        for spec in rng.sample(CONNECTORS, count):
            connections.append(connection(context, spec, pick_health()))
            # Multi-connection connectors sometimes hold a second, broken account: the
            # healthiest-wins rule then has something to choose from.
            if spec[3] and rng.random() < 0.2:
                connections.append(connection(context, spec, rng.choice(["error", "disabled", "pending"])))
    # Every health appears at least once, whatever the draw.
    for index, health in enumerate(name for name, _ in HEALTH_WEIGHTS):
        context = all_contexts[index]
        connections.append(connection(context, CONNECTORS[index], health))
    short_lived(connections)
    seed = {
        "platform": PLATFORM,
        "connectors": [connector_json(spec) for spec in CONNECTORS] + FIELD_CONNECTORS,
        "contexts": all_contexts,
        "connections": connections,
        "sandbox": sandbox(connections, {context["external_id"]: context for context in all_contexts}),
    }
    path = Path(__file__).with_name("demo-platform.json")
    path.write_text(json.dumps(seed, indent=1, ensure_ascii=False) + "\n")
    print(f"{path}: {len(CONNECTORS) + len(FIELD_CONNECTORS)} connectors, {len(all_contexts)} contexts, {len(connections)} connections")


if __name__ == "__main__":
    main()
