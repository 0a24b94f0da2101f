//! Checks real HTTP answers against the served OpenAPI document: the operation exists, the
//! status is documented for it, the content type is one it documents, documented headers are
//! present, and a JSON body validates against the documented schema. Object schemas are made
//! strict here (`additionalProperties: false`), so an undocumented field fails too.

use serde_json::{json, Value};

pub struct Contract {
    doc: Value,
}

/// What came back, for the caller's own assertions.
pub struct Checked {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Checked {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Headers documented on some answers but only present in some cases.
const SOMETIMES: &[&str] = &["Idempotent-Replayed"];

fn strict(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("type") == Some(&json!("object"))
                && m.contains_key("properties")
                && !m.contains_key("additionalProperties")
            {
                m.insert("additionalProperties".into(), json!(false));
            }
            m.values_mut().for_each(strict);
        }
        Value::Array(a) => a.iter_mut().for_each(strict),
        _ => {}
    }
}

impl Contract {
    pub async fn fetch(client: &reqwest::Client, base: &str) -> Contract {
        let res = client
            .get(format!("{base}/api/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let mut doc: Value = res.json().await.unwrap();
        assert!(
            doc["openapi"].as_str().unwrap_or("").starts_with("3."),
            "an OpenAPI 3 document"
        );
        strict(&mut doc["components"]);
        Contract { doc }
    }

    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// Validates `instance` against a schema of the document (a `$ref` or inline).
    pub fn validate(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        let mut root = schema.clone();
        let obj = root.as_object_mut().expect("a schema object");
        obj.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        obj.insert("components".into(), self.doc["components"].clone());
        let validator = jsonschema::validator_for(&root).map_err(|e| format!("schema: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// The request-body schema of `POST`/… `template`.
    pub fn request_schema(&self, method: &str, template: &str) -> Value {
        self.doc["paths"][template][method]["requestBody"]["content"]["application/json"]["schema"]
            .clone()
    }

    /// Reads the answer and checks it against `method template` in the document.
    pub async fn check(&self, method: &str, template: &str, res: reqwest::Response) -> Checked {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.bytes().await.unwrap().to_vec();
        let op = &self.doc["paths"][template][method];
        assert!(
            op.is_object(),
            "{method} {template} is not in the OpenAPI document"
        );
        let documented = &op["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {template} answered {status}, which the document does not list: {}",
            String::from_utf8_lossy(&body)
        );
        if let Some(hs) = documented["headers"].as_object() {
            for name in hs.keys() {
                if SOMETIMES.contains(&name.as_str()) {
                    continue;
                }
                assert!(
                    headers.contains_key(name.as_str()),
                    "{method} {template} {status}: documented header {name} is missing"
                );
            }
        }
        match documented["content"].as_object() {
            None => assert!(
                body.is_empty(),
                "{method} {template} {status}: a body where the document lists none"
            ),
            Some(content) => {
                let ct = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .split(';')
                    .next()
                    .unwrap()
                    .trim()
                    .to_owned();
                let Some(media) = content.get(&ct) else {
                    panic!(
                        "{method} {template} {status}: content type `{ct}` is not among {:?}",
                        content.keys().collect::<Vec<_>>()
                    )
                };
                if ct == "application/json" {
                    let value: Value = serde_json::from_slice(&body)
                        .unwrap_or_else(|e| panic!("{method} {template} {status}: not JSON ({e})"));
                    if let Some(schema) = media.get("schema") {
                        if let Err(e) = self.validate(schema, &value) {
                            panic!("{method} {template} {status}: the body does not match the document: {e}\nbody: {value}")
                        }
                    }
                }
            }
        }
        Checked {
            status,
            headers,
            body,
        }
    }
}
