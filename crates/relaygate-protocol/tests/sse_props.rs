//! Property tests of the SSE codec: chunking never changes the events, and encode/decode
//! round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use relaygate_protocol::sse::{SseDecoder, SseEvent};

fn decode_chunked(bytes: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut prev = 0;
    for c in cuts {
        d.feed(&bytes[prev..c], &mut out).unwrap();
        prev = c;
    }
    d.feed(&bytes[prev..], &mut out).unwrap();
    d.finish(&mut out);
    out
}

fn field_text() -> impl Strategy<Value = String> {
    // Field values never hold line breaks; anything else (including ':' and leading spaces) goes.
    "[^\r\n]{0,12}"
}

fn event() -> impl Strategy<Value = SseEvent> {
    (
        proptest::option::of("[a-z_.]{1,10}"),
        proptest::collection::vec(field_text(), 1..4),
        proptest::option::of("[a-z0-9]{0,6}"),
        proptest::option::of(0u64..100_000),
    )
        .prop_map(|(event, lines, id, retry)| SseEvent {
            event,
            data: lines.join("\n"),
            id,
            retry,
        })
}

fn with_line_ending(bytes: &[u8], ending: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        if b == b'\n' {
            out.extend_from_slice(ending);
        } else {
            out.push(b);
        }
    }
    out
}

proptest! {
    #[test]
    fn round_trip_under_any_chunking(
        events in proptest::collection::vec(event(), 0..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
        ending in prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"\r"[..])],
    ) {
        let mut wire = Vec::new();
        for e in &events {
            e.encode_into(&mut wire);
        }
        let wire = with_line_ending(&wire, ending);
        prop_assert_eq!(decode_chunked(&wire, &cuts), events);
    }

    #[test]
    fn chunking_never_changes_arbitrary_input(
        bytes in proptest::collection::vec(prop_oneof![
            Just(b'\n'), Just(b'\r'), Just(b':'), Just(b' '), Just(b'd'), Just(b'a'), Just(b't'),
            any::<u8>()
        ], 0..200),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        prop_assert_eq!(decode_chunked(&bytes, &cuts), decode_chunked(&bytes, &[]));
    }

    #[test]
    fn boundaries_split_the_stream_into_whole_events(
        events in proptest::collection::vec(event(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        // Forward only up to the last boundary of each chunk, as the proxy does, and check the
        // forwarded prefix always decodes to whole events.
        let mut wire = Vec::new();
        for e in &events {
            e.encode_into(&mut wire);
        }
        let mut d = SseDecoder::new();
        let mut sink = Vec::new();
        let mut forwarded = 0usize;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(wire.len());
        let mut prev = 0;
        for c in cuts {
            let fed = d.feed(&wire[prev..c], &mut sink).unwrap();
            if let Some(b) = fed.last_boundary {
                forwarded = prev + b;
                let whole = decode_chunked(&wire[..forwarded], &[]);
                prop_assert_eq!(&whole[..], &sink[..]);
            }
            prev = c;
        }
        prop_assert_eq!(forwarded, wire.len());
    }
}
