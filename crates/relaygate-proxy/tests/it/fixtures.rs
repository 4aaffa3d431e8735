//! Recorded real-API streams pass through the gateway unchanged.

use relaygate_protocol::Protocol;
use relaygate_testkit::fixtures::{recorded_or_skip, recorded_streams};

use crate::support::*;

#[tokio::test]
async fn recorded_streams_pass_through_byte_for_byte() {
    let Some(dir) = recorded_or_skip("recorded_streams_pass_through_byte_for_byte") else {
        return;
    };
    let streams = recorded_streams(&dir).unwrap();
    assert!(
        streams.len() >= 20,
        "expected the recorded corpus, found {}",
        streams.len()
    );
    let mock = MockUpstream::start().await.unwrap();
    let url = mock.url();
    let env = Env::start(vec![
        channel("a", Protocol::Anthropic, &url, &["k"], &["m-anthropic"]),
        channel("o", Protocol::OpenAiChat, &url, &["k"], &["m-openai"]),
        channel(
            "r",
            Protocol::OpenAiResponses,
            &url,
            &["k"],
            &["m-responses"],
        ),
        channel("g", Protocol::Gemini, &url, &["k"], &["m-gemini"]),
    ])
    .await;
    let mut passed = 0;
    for s in &streams {
        let protocol = match s.protocol {
            "anthropic" => Protocol::Anthropic,
            "responses" => Protocol::OpenAiResponses,
            "gemini" => Protocol::Gemini,
            _ => Protocol::OpenAiChat,
        };
        mock.on_any(Behavior::Replay {
            content_type: "text/event-stream".to_owned(),
            chunks: s
                .events
                .iter()
                .map(|e| bytes::Bytes::from(e.clone()))
                .collect(),
        });
        let model = format!("m-{}", protocol.as_str());
        let (path, body) = request_for(protocol, &model, true);
        let chat = protocol == Protocol::OpenAiChat;
        // A Chat client that asks for usage gets every byte; see below for one that does not.
        let body = if chat {
            body.replacen('{', r#"{"stream_options":{"include_usage":true},"#, 1)
        } else {
            body
        };
        let r = env.post(protocol, &path, &body).await;
        if s.name.contains("error") {
            // A recorded failure (an error event before any content) is a soft error: it is
            // never relayed as a 200; the client gets an error in its own shape instead.
            assert!(r.status.as_u16() >= 400, "{}: {}", s.name, r.status);
            assert!(r.json().get("error").is_some(), "{}: {}", s.name, r.text());
            continue;
        }
        assert_eq!(r.status, 200, "{}: {}", s.name, r.text());
        assert_eq!(
            r.body.to_vec(),
            s.events.concat(),
            "{} changed in transit",
            s.name
        );
        if chat && !s.name.contains("error") {
            // Without `include_usage` the gateway still asks the upstream for usage (to bill
            // it), and takes the usage-only chunk out: the client sees what it asked for.
            let (_, plain) = request_for(protocol, &model, true);
            let r = env.post(protocol, &path, &plain).await;
            let usage_only = |e: &Vec<u8>| {
                let t = String::from_utf8_lossy(e);
                t.contains(r#""choices":[]"#) && t.contains(r#""usage":{"#)
            };
            let want: Vec<u8> = s
                .events
                .iter()
                .filter(|e| !usage_only(e))
                .flatten()
                .copied()
                .collect();
            assert_eq!(
                String::from_utf8_lossy(&r.body),
                String::from_utf8_lossy(&want),
                "{} without include_usage",
                s.name
            );
            let sent = mock.requests().last().unwrap().body.clone();
            assert!(
                String::from_utf8_lossy(&sent).contains(r#""include_usage":true"#),
                "{}: the upstream was not asked for usage",
                s.name
            );
            let logs = env.logs().await;
            if s.events.iter().any(usage_only) {
                let u = logs[0].usage.expect("usage logged");
                assert!(!u.estimated, "{}: the reported usage is billed", s.name);
            }
        }
        passed += 1;
    }
    assert!(
        passed >= 20,
        "only {passed} recorded streams passed through"
    );
}
