//! `GET /openapi.json` against the reference pages in docs/reference/ (the published page
//! of `POST /token`, and `POST /authenticate` written from SPEC §2 in the same format).

// Field names, types, required flags, status codes and their descriptions; and every
// documented operation is actually routed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::support::TestApp;

/// What a reference page says about one operation.
#[derive(Debug)]
struct Page {
    method: String,
    path: String,
    description: String,
    /// Name of the body schema, whether the body is required, its description.
    body_schema: String,
    body_required: bool,
    body_description: String,
    /// The body parameter's example: field → JSON type.
    body_fields: BTreeMap<String, &'static str>,
    /// The example response: field → JSON type.
    response_fields: BTreeMap<String, &'static str>,
    /// Status → (description, schema name or `None`).
    responses: BTreeMap<u16, (String, Option<String>)>,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

fn fields(v: &Value) -> BTreeMap<String, &'static str> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json_type(v)))
        .collect()
}

/// `[Name](#anchor)` → `Name`; `None` → none.
fn link_text(cell: &str) -> Option<String> {
    let cell = cell.trim();
    if cell == "None" {
        return None;
    }
    let name = cell
        .strip_prefix('[')
        .and_then(|c| c.split(']').next())
        .unwrap_or_else(|| panic!("not a link: {cell}"));
    Some(name.to_string())
}

/// The JSON of the first ```json block after the line `marker`.
fn json_after(text: &str, marker: &str) -> Value {
    let start = text.find(marker).unwrap_or_else(|| panic!("no {marker:?}"));
    let rest = &text[start..];
    let open = rest.find("```json\n").unwrap() + "```json\n".len();
    let close = rest[open..].find("```").unwrap();
    serde_json::from_str(&rest[open..open + close]).unwrap()
}

/// The rows of the markdown table under `### heading`.
fn table<'a>(text: &'a str, heading: &str) -> Vec<Vec<&'a str>> {
    let start = text
        .find(&format!("### {heading}"))
        .unwrap_or_else(|| panic!("no {heading}"));
    text[start..]
        .lines()
        .skip(1)
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.contains('|'))
        .skip(2) // header and separator
        .map(|l| l.split('|').map(str::trim).collect())
        .collect()
}

fn parse_page(file: &str) -> Page {
    let text = std::fs::read_to_string(format!(
        "{}/../../docs/reference/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let title = text.lines().next().unwrap().strip_prefix("## ").unwrap();
    let (method, path) = title.split_once(' ').unwrap();
    // The description is the paragraph just before "> Body parameter".
    let before_body = &text[..text.find("> Body parameter").unwrap()];
    let description = before_body
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap()
        .trim()
        .to_string();
    let params = table(&text, "Parameters");
    assert_eq!(params.len(), 1, "one body parameter");
    let body = &params[0];
    assert_eq!((body[0], body[1]), ("body", "body"));
    let responses = table(&text, "Responses")
        .into_iter()
        .map(|row| {
            (
                row[0].parse::<u16>().unwrap(),
                (row[2].to_string(), link_text(row[3])),
            )
        })
        .collect();
    Page {
        method: method.to_lowercase(),
        path: path.to_string(),
        description,
        body_schema: link_text(body[2]).unwrap(),
        body_required: body[3] == "true",
        body_description: body[4].to_string(),
        body_fields: fields(&json_after(&text, "> Body parameter")),
        response_fields: fields(&json_after(&text, "> Example responses")),
        responses,
    }
}

/// Follows a `$ref` to `#/components/schemas/…`, returning the name and the schema.
fn resolve<'a>(doc: &'a Value, schema: &Value) -> (String, &'a Value) {
    let reference = schema["$ref"]
        .as_str()
        .unwrap_or_else(|| panic!("not a $ref: {schema}"));
    let name = reference
        .strip_prefix("#/components/schemas/")
        .unwrap()
        .to_string();
    let target = &doc["components"]["schemas"][&name];
    assert!(target.is_object(), "{reference} does not resolve");
    (name, target)
}

/// Property → type of an object schema, and its required set.
fn properties(schema: &Value) -> (BTreeMap<String, String>, BTreeSet<String>) {
    assert_eq!(schema["type"], "object");
    let props = schema["properties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["type"].as_str().unwrap_or("?").to_string()))
        .collect();
    let required = schema["required"]
        .as_array()
        .map(|r| r.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    (props, required)
}

fn as_strings(m: &BTreeMap<String, &'static str>) -> BTreeMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
}

/// Statuses the service documents beyond a page, each required by the SPEC.
const EXTRA_STATUSES: &[(u16, &str)] = &[
    (404, "an unknown environment (SPEC §1)"),
    (
        408,
        "a body that does not arrive in time (SPEC §9: no hang)",
    ),
    (413, "a body over the size limit (SPEC §9)"),
    (415, "a missing or wrong Content-Type (SPEC §9)"),
    (429, "rate limits and lockout (SPEC §2, §8)"),
    (
        503,
        "storage unreachable, hash queue full (SPEC §2 temporarily_unavailable)",
    ),
];

fn check_operation(doc: &Value, page: &Page) {
    let path = format!("/{{env}}{}", page.path);
    let op = &doc["paths"][&path][&page.method];
    assert!(op.is_object(), "{} {path} is not documented", page.method);
    let served_description = op["description"].as_str().unwrap();
    assert!(
        served_description.starts_with(&page.description),
        "{path}: {served_description:?} does not start with {:?}",
        page.description
    );

    // The body: its schema by name, required, the same fields with the same types, every
    // field required (SPEC §2).
    let body = &op["requestBody"];
    assert_eq!(body["required"], page.body_required, "{path}");
    assert_eq!(
        body["description"],
        page.body_description.as_str(),
        "{path}"
    );
    let content = body["content"].as_object().unwrap();
    assert_eq!(
        content.keys().collect::<Vec<_>>(),
        ["application/json"],
        "{path}"
    );
    let (name, schema) = resolve(doc, &content["application/json"]["schema"]);
    assert_eq!(name, page.body_schema);
    let (props, required) = properties(schema);
    assert_eq!(props, as_strings(&page.body_fields), "{path} body fields");
    assert_eq!(
        required,
        page.body_fields.keys().cloned().collect::<BTreeSet<_>>(),
        "{path}: every body field is required"
    );

    // The responses: each status of the page with its description and schema; an error
    // status without a schema on the page has the error body (SPEC §2).
    let responses = op["responses"].as_object().unwrap();
    for (status, (description, schema_name)) in &page.responses {
        let r = responses
            .get(&status.to_string())
            .unwrap_or_else(|| panic!("{path}: status {status} is not documented"));
        assert_eq!(r["description"], description.as_str(), "{path} {status}");
        let (name, schema) = resolve(doc, &r["content"]["application/json"]["schema"]);
        let (props, required) = properties(schema);
        match schema_name {
            Some(expected) => {
                assert_eq!(&name, expected, "{path} {status}");
                assert_eq!(props, as_strings(&page.response_fields), "{path} {status}");
                assert_eq!(
                    required,
                    page.response_fields
                        .keys()
                        .cloned()
                        .collect::<BTreeSet<_>>(),
                    "{path} {status}: every response field is always sent"
                );
            }
            None => {
                assert_eq!(name, "ErrorBody", "{path} {status}");
                let error = ["error", "error_description"].map(String::from);
                assert_eq!(props.keys().cloned().collect::<Vec<_>>(), error);
                assert_eq!(required, error.into_iter().collect());
            }
        }
    }
    // Beyond the page, only the statuses the SPEC requires, each with the error body.
    for (status, r) in responses {
        let status: u16 = status.parse().unwrap();
        if page.responses.contains_key(&status) {
            continue;
        }
        assert!(
            EXTRA_STATUSES.iter().any(|(s, _)| *s == status),
            "{path}: status {status} is neither on the page nor required by the SPEC"
        );
        let (name, _) = resolve(doc, &r["content"]["application/json"]["schema"]);
        assert_eq!(name, "ErrorBody", "{path} {status}");
    }
}

/// `GET /openapi.json` of `app`: a 200 JSON document.
async fn served_document(app: &TestApp) -> Value {
    let r = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.unwrap()
}

#[tokio::test]
async fn served_document_matches_the_reference_pages() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );

    let token = parse_page("post-token.md");
    // What the published page says, as read: the parser itself is checked here too.
    assert_eq!(
        (token.method.as_str(), token.path.as_str()),
        ("post", "/token")
    );
    assert_eq!(token.body_schema, "RefreshTokenRequest");
    assert_eq!(
        token.body_fields.keys().collect::<Vec<_>>(),
        ["access_token", "refresh_token", "username"]
    );
    assert_eq!(token.response_fields["expires_in"], "integer");
    assert_eq!(
        token.responses.keys().copied().collect::<Vec<_>>(),
        [200, 400, 500]
    );
    check_operation(&doc, &token);

    let authenticate = parse_page("post-authenticate.md");
    assert_eq!(authenticate.body_schema, "AuthenticateRequest");
    assert_eq!(
        authenticate.responses.keys().copied().collect::<Vec<_>>(),
        [200, 400, 429, 500]
    );
    check_operation(&doc, &authenticate);

    // The `{env}` parameter lists exactly the configured environments.
    let env = &doc["paths"]["/{env}/token"]["post"]["parameters"][0];
    assert_eq!(env["name"], "env");
    assert_eq!(env["in"], "path");
    assert_eq!(env["schema"]["enum"], json!(app.config.environments));
    assert_eq!(doc["servers"][0]["url"], app.config.public_url.as_str());
}

#[tokio::test]
async fn documented_length_limits_are_the_enforced_ones() {
    use wirecash_core::validate::{MAX_ACCESS_TOKEN, MAX_PASSWORD, MAX_USERNAME};
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    let schemas = &doc["components"]["schemas"];
    for (schema, field, max) in [
        ("AuthenticateRequest", "username", MAX_USERNAME),
        ("AuthenticateRequest", "password", MAX_PASSWORD),
        ("RefreshTokenRequest", "username", MAX_USERNAME),
        ("RefreshTokenRequest", "access_token", MAX_ACCESS_TOKEN),
        ("RefreshTokenRequest", "refresh_token", MAX_ACCESS_TOKEN),
    ] {
        let p = &schemas[schema]["properties"][field];
        assert_eq!(p["maxLength"], max, "{schema}.{field}");
        assert_eq!(p["minLength"], 1, "{schema}.{field}");
        // One byte more is refused: the limit is real.
        let mut body =
            json!({"username": "u", "password": "p", "access_token": "a", "refresh_token": "r"});
        body[field] = json!("x".repeat(max + 1));
        let path = if schema == "AuthenticateRequest" {
            "/sandbox/authenticate"
        } else {
            "/sandbox/token"
        };
        let a = app.post_json(path, &body).await;
        assert_eq!(
            (a.status.as_u16(), a.error()),
            (400, "invalid_request"),
            "{schema}.{field}"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let url = format!("{}{}", app.base, path.replace("{env}", "sandbox"));
            let request = match method.as_str() {
                "get" => app.client.get(&url),
                "post" => app
                    .client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body("{}"),
                other => panic!("unexpected method {other} on {path}"),
            };
            let r = request.send().await.unwrap();
            assert!(
                ![404, 405].contains(&r.status().as_u16()),
                "{method} {path}: {}",
                r.status()
            );
            operations += 1;
        }
    }
    assert!(operations >= 8, "{operations}");
}
