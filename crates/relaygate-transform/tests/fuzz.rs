#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Fuzz properties: arbitrary bytes and grammar-built JSON through every public entry point of
//! the crate (request, response, error and stream conversion for every protocol pair, schema
//! cleaning). Nothing may panic, and what a conversion returns as `Ok` is JSON.
//!
//! The case count is kept small so the file runs in seconds in debug builds; set
//! `PROPTEST_CASES` for a longer run.

use proptest::prelude::*;
use relaygate_transform::schema::clean_gemini_schema;
use relaygate_transform::{
    Protocol, RequestOptions, ResponseOptions, SseEvent, convert_error, convert_request,
    convert_response, convert_response_with_tool_names, error_kind, stream_converter,
    stream_converter_with_tool_names, tool_name_table,
};
use serde_json::{Map, Value};

use relaygate_testkit::fuzz::*;

fn request_opts(stream: bool) -> RequestOptions {
    RequestOptions {
        upstream_model: "upstream-model".into(),
        stream,
    }
}

fn response_opts() -> ResponseOptions {
    ResponseOptions {
        client_model: "client-model".into(),
        id_seed: "req-1".into(),
    }
}

/// Every converted event is an SSE event whose data is JSON or the `[DONE]` marker.
fn check_events(up: Protocol, client: Protocol, out: &[SseEvent]) -> Result<(), TestCaseError> {
    for e in out {
        let _ = e.encode();
        prop_assert!(
            up == client || e.data == "[DONE]" || is_json(e.data.as_bytes()),
            "{up} -> {client}: event data is not JSON: {:?}",
            e.data
        );
    }
    Ok(())
}

fn run_stream(
    up: Protocol,
    client: Protocol,
    events: &[SseEvent],
    names: &[(String, String)],
) -> Result<(), TestCaseError> {
    let mut conv = if names.is_empty() {
        stream_converter(up, client, &response_opts())
    } else {
        stream_converter_with_tool_names(up, client, &response_opts(), names)
    };
    let mut out = Vec::new();
    for e in events {
        // An error is a defined answer; the converter must still not panic afterwards.
        let _ = conv.push(e, &mut out);
    }
    let _ = conv.finish(&mut out);
    let _ = conv.losses();
    check_events(up, client, &out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn requests_convert_or_fail_cleanly(body in request_body(), stream in any::<bool>()) {
        for client in Protocol::ALL {
            for upstream in Protocol::ALL {
                let _ = tool_name_table(client, upstream, &body);
                if let Ok(c) = convert_request(client, upstream, &body, &request_opts(stream)) {
                    prop_assert!(
                        client == upstream || is_json(&c.value),
                        "{client} -> {upstream}: not JSON: {}",
                        String::from_utf8_lossy(&c.value)
                    );
                }
            }
        }
    }

    #[test]
    fn responses_convert_or_fail_cleanly(body in response_body(), names in prop::collection::vec(("[a-z_]{1,8}", "[ -~]{1,8}"), 0..3)) {
        for upstream in Protocol::ALL {
            for client in Protocol::ALL {
                let converted = [
                    convert_response(upstream, client, &body, &response_opts()),
                    convert_response_with_tool_names(upstream, client, &body, &response_opts(), &names),
                ];
                for c in converted.into_iter().flatten() {
                    prop_assert!(
                        client == upstream || is_json(&c.value),
                        "{upstream} -> {client}: not JSON: {}",
                        String::from_utf8_lossy(&c.value)
                    );
                }
            }
        }
    }

    #[test]
    fn streamed_bodies_aggregate_or_fail_cleanly(events in prop::collection::vec(shaped_event(), 0..8)) {
        // An upstream that streams although asked not to: the SSE body is aggregated.
        let mut body = Vec::new();
        for e in &events {
            e.encode_into(&mut body);
        }
        for upstream in Protocol::ALL {
            for client in Protocol::ALL {
                if let Ok(c) = convert_response(upstream, client, &body, &response_opts()) {
                    prop_assert!(client == upstream || is_json(&c.value));
                }
            }
        }
    }

    #[test]
    fn errors_always_give_a_json_envelope(body in response_body(), status in any::<u16>()) {
        for upstream in Protocol::ALL {
            let _ = error_kind(upstream, status, &body);
            for client in Protocol::ALL {
                let out = convert_error(upstream, client, status, &body);
                prop_assert!(is_json(&out), "{upstream} -> {client}: {}", String::from_utf8_lossy(&out));
            }
        }
    }

    #[test]
    fn stream_converters_take_any_events(events in prop::collection::vec(shaped_event(), 0..12), named in any::<bool>()) {
        let names = if named {
            vec![("tool_1".to_owned(), "tool.one".to_owned())]
        } else {
            Vec::new()
        };
        for up in Protocol::ALL {
            for client in Protocol::ALL {
                run_stream(up, client, &events, &names)?;
            }
        }
    }

    #[test]
    fn gemini_schemas_always_clean_to_an_object(schema in json()) {
        let c = clean_gemini_schema(&schema);
        prop_assert!(c.is_object());
        prop_assert!(is_json(c.to_string().as_bytes()));
    }
}

// ---------------------------------------------------------------- nesting far past the limit

/// Drops `v` without recursion (serde_json's own drop recurses once per level).
fn drop_iter(v: Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(a) => stack.extend(a),
            Value::Object(m) => stack.extend(m.into_iter().map(|(_, x)| x)),
            _ => {}
        }
    }
}

#[test]
fn bodies_nested_100_000_deep_are_refused_not_overflowed() {
    let deep = deep_array(100_000);
    let bodies = [
        format!(r#"{{"model":"m","messages":[{{"role":"user","content":{deep}}}]}}"#),
        format!(
            r#"{{"contents":[{{"parts":[{{"functionCall":{{"name":"f","args":{deep}}}}}]}}]}}"#
        ),
        deep.clone(),
    ];
    for body in &bodies {
        for a in Protocol::ALL {
            for b in Protocol::ALL {
                if a != b {
                    assert!(convert_request(a, b, body.as_bytes(), &request_opts(false)).is_err());
                    assert!(convert_response(a, b, body.as_bytes(), &response_opts()).is_err());
                }
                let _ = tool_name_table(a, b, body.as_bytes());
                assert!(is_json(&convert_error(a, b, 500, body.as_bytes())));
                run_stream(a, b, &[SseEvent::data(body.clone())], &[]).unwrap();
            }
        }
    }
}

#[test]
fn schemas_nested_100_000_deep_become_the_permissive_object() {
    let mut schema = serde_json::json!({"type": "string"});
    for _ in 0..100_000 {
        let mut m = Map::new();
        m.insert("type".into(), "object".into());
        let mut props = Map::new();
        props.insert("next".into(), schema);
        m.insert("properties".into(), Value::Object(props));
        schema = Value::Object(m);
    }
    assert_eq!(
        clean_gemini_schema(&schema),
        serde_json::json!({"type": "object"})
    );
    drop_iter(schema);
}

#[test]
fn gemini_json_paths_100_000_keys_deep_are_ignored() {
    // Vertex streamed arguments: each `jsonPath` key nests the arguments one level deeper.
    let path = format!("${}", ".a".repeat(100_000));
    let event = serde_json::json!({"candidates": [{"content": {"role": "model", "parts": [{
        "functionCall": {"name": "f", "partialArgs": [{"jsonPath": path, "stringValue": "x"}]}
    }]}, "finishReason": "STOP"}]});
    let events = [SseEvent::data(event.to_string())];
    for client in Protocol::ALL {
        run_stream(Protocol::Gemini, client, &events, &[]).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// What a conversion emits is a request the upstream protocol's own decoder takes: it
    /// converts on to every other protocol. (`EmptyRequest` is the one accepted refusal: a
    /// source holding only an empty system block yields an empty system message, which the
    /// next hop drops.)
    #[test]
    fn converted_requests_convert_again(body in request_body()) {
        for client in Protocol::ALL {
            for upstream in Protocol::ALL {
                if client == upstream {
                    continue;
                }
                let Ok(c) = convert_request(client, upstream, &body, &request_opts(false)) else {
                    continue;
                };
                for next in Protocol::ALL {
                    if next == upstream {
                        continue;
                    }
                    let r = convert_request(upstream, next, &c.value, &request_opts(false));
                    prop_assert!(
                        r.is_ok() || r == Err(relaygate_transform::Error::EmptyRequest),
                        "{client} -> {upstream} -> {next}: {:?}\n in: {}\n mid: {}",
                        r.err(),
                        String::from_utf8_lossy(&body),
                        String::from_utf8_lossy(&c.value)
                    );
                }
            }
        }
    }

    /// A converted response is a response of the client protocol: it converts on.
    #[test]
    fn converted_responses_convert_again(body in response_body()) {
        for up in Protocol::ALL {
            for client in Protocol::ALL {
                if client == up {
                    continue;
                }
                let Ok(c) = convert_response(up, client, &body, &response_opts()) else {
                    continue;
                };
                for next in Protocol::ALL {
                    if next != client {
                        let r = convert_response(client, next, &c.value, &response_opts());
                        prop_assert!(
                            r.is_ok(),
                            "{up} -> {client} -> {next}: {:?}\n in: {}\n mid: {}",
                            r.err(),
                            String::from_utf8_lossy(&body),
                            String::from_utf8_lossy(&c.value)
                        );
                    }
                }
            }
        }
    }

    /// Whatever events a stream converter emitted, they form a stream of the client protocol:
    /// aggregated as a body, they convert to every other protocol.
    #[test]
    fn converted_streams_aggregate_again(events in prop::collection::vec(shaped_event(), 0..12)) {
        for up in Protocol::ALL {
            for client in Protocol::ALL {
                if client == up {
                    continue;
                }
                let mut conv = stream_converter(up, client, &response_opts());
                let mut out = Vec::new();
                for e in &events {
                    let _ = conv.push(e, &mut out);
                }
                let _ = conv.finish(&mut out);
                let mut body = Vec::new();
                for e in &out {
                    e.encode_into(&mut body);
                }
                for next in Protocol::ALL {
                    if next != client {
                        let r = convert_response(client, next, &body, &response_opts());
                        prop_assert!(
                            r.is_ok(),
                            "{up} -> {client} -> {next}: {:?}\n stream: {}",
                            r.err(),
                            String::from_utf8_lossy(&body)
                        );
                    }
                }
            }
        }
    }
}
