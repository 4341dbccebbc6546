//! The findings JSON matches schema/findings.schema.json, on every capture
//! we ship, and a document that breaks the contract is caught.

mod common;

use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_slice(
        &std::fs::read(common::repo().join("schema/findings.schema.json")).unwrap(),
    )
    .unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema itself is valid")
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn findings_of_every_shipped_capture_match_the_schema() {
    let v = validator();
    let mut captures = common::captures_in(&common::repo().join("samples"));
    captures.extend(common::captures_in(
        &common::repo().join("tests/data/public"),
    ));
    captures.extend(common::captures_in(
        &common::repo().join("tests/data/tunnels"),
    ));
    captures.extend(common::captures_in(&common::repo().join("tests/data/tls")));
    assert!(captures.len() > 30);
    let mut judged = 0;
    for capture in captures {
        let doc = common::json(&["analyze", "--format", "json", capture.to_str().unwrap()]);
        let errs = errors(&v, &doc);
        assert!(
            errs.is_empty(),
            "{}: {}",
            capture.display(),
            errs.join("\n")
        );
        judged += doc["connections"].as_array().unwrap().len();
    }
    assert!(
        judged > 20,
        "the schema must have been checked on real connections, got {judged}"
    );
}

#[test]
fn the_schema_rejects_a_broken_contract() {
    let v = validator();
    let mut doc = common::json(&[
        "analyze",
        "--format",
        "json",
        "tests/data/public/zeek/reply-ping-separate.pcap",
    ]);
    assert!(errors(&v, &doc).is_empty());
    doc["connections"][0]["verdict"] = Value::from("dead");
    assert!(!errors(&v, &doc).is_empty(), "an unknown verdict must fail");
    let mut doc2 = common::json(&[
        "analyze",
        "--format",
        "json",
        "tests/data/public/zeek/reply-ping-separate.pcap",
    ]);
    doc2["connections"][0]
        .as_object_mut()
        .unwrap()
        .remove("frames");
    assert!(
        !errors(&v, &doc2).is_empty(),
        "a missing contract field must fail"
    );
}
