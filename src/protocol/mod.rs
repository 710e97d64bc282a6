//! The wire protocol: framing client requests (RESP2/RESP3 multibulk and inline) and encoding
//! replies. It depends on nothing else in the crate (only `bytes`), so the command layer and the
//! server can both build on it without cycles.

pub mod parse;
pub mod reply;
pub mod repr;

pub use parse::{parse_batch, pending_big_bulk, ParseLimits, ProtocolError};
pub use reply::{Protocol, Reply};

/// Properties of the module as a whole: the parser against generated traffic, and the encoder
/// feeding the parser.
#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use proptest::prelude::*;

    type Commands = Vec<Vec<Vec<u8>>>;

    fn to_vecs(out: Vec<Vec<Bytes>>) -> Commands {
        out.into_iter()
            .map(|cmd| cmd.into_iter().map(|a| a.to_vec()).collect())
            .collect()
    }

    /// Parses `input` in one call; returns the commands, the result and what stayed in the buffer.
    fn parse_with(input: &[u8], limits: &ParseLimits) -> (Commands, Result<(), String>, Vec<u8>) {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        let result = parse_batch(&mut buf, limits, &mut out).map_err(|e| e.0);
        (to_vecs(out), result, buf.to_vec())
    }

    fn parse(input: &[u8]) -> (Commands, Result<(), String>, Vec<u8>) {
        parse_with(input, &ParseLimits::default())
    }

    /// The multibulk request a client library would send for `cmd`.
    fn multibulk(cmd: &[Vec<u8>]) -> Vec<u8> {
        let mut wire = BytesMut::new();
        let reply = Reply::Array(cmd.iter().map(|a| Reply::Bulk(a.clone().into())).collect());
        reply.encode(Protocol::Resp2, &mut wire);
        wire.to_vec()
    }

    #[test]
    fn multibulk_helper_writes_the_request_format() {
        assert_eq!(
            multibulk(&[b"GET".to_vec(), b"".to_vec()]),
            b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n"
        );
    }

    /// Records the largest single allocation, to show a declared length is never allocated.
    struct PeakAlloc;

    static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    // SAFETY: forwards every call unchanged to the system allocator.
    unsafe impl std::alloc::GlobalAlloc for PeakAlloc {
        unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
            PEAK.fetch_max(layout.size(), std::sync::atomic::Ordering::Relaxed);
            // SAFETY: same contract as the caller's.
            unsafe { std::alloc::System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
            // SAFETY: `ptr` came from `System.alloc` with this layout.
            unsafe { std::alloc::System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: PeakAlloc = PeakAlloc;

    #[test]
    fn huge_declared_lengths_are_not_allocated() {
        let input = b"*2147483647\r\n$536870912\r\nabc";
        let mut buf = BytesMut::from(&input[..]);
        let capacity = buf.capacity();
        let mut out = Vec::new();
        for _ in 0..3 {
            parse_batch(&mut buf, &ParseLimits::default(), &mut out).unwrap();
        }
        assert!(out.is_empty());
        assert_eq!(&buf[..], &input[..]);
        assert_eq!(buf.capacity(), capacity);
        // Other tests run in parallel, but none allocates anywhere near this.
        assert!(PEAK.load(std::sync::atomic::Ordering::Relaxed) < 256 << 20);
    }

    fn limits_strategy() -> impl Strategy<Value = ParseLimits> {
        (
            prop_oneof![Just(ParseLimits::default().max_bulk_len), 0u64..64],
            any::<bool>(),
        )
            .prop_map(|(max_bulk_len, unauthenticated)| ParseLimits {
                max_bulk_len,
                unauthenticated,
            })
    }

    fn arg_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'$')], 0..6),
            Just(Vec::new()),
        ]
    }

    /// A wire command: multibulk with any arguments, or inline with plain and quoted words.
    fn wire_command() -> impl Strategy<Value = (Vec<u8>, Vec<Vec<u8>>)> {
        let multibulk_cmd =
            proptest::collection::vec(arg_strategy(), 1..6).prop_map(|cmd| (multibulk(&cmd), cmd));
        let word = prop_oneof![
            "[a-zA-Z0-9_:.-]{1,8}".prop_map(|w| (w.clone().into_bytes(), w.into_bytes())),
            proptest::collection::vec(any::<u8>(), 0..10).prop_map(|raw| {
                let mut quoted = b"\"".to_vec();
                for &b in &raw {
                    match b {
                        b'"' | b'\\' => quoted.extend_from_slice(&[b'\\', b]),
                        b' '..=b'~' => quoted.push(b),
                        _ => quoted.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                    }
                }
                quoted.push(b'"');
                (quoted, raw)
            }),
        ];
        let inline_cmd =
            (proptest::collection::vec(word, 1..5), any::<bool>()).prop_map(|(words, crlf)| {
                let mut line = Vec::new();
                let mut cmd = Vec::new();
                for (wire, arg) in words {
                    line.extend_from_slice(&wire);
                    line.push(b' ');
                    cmd.push(arg);
                }
                line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                (line, cmd)
            });
        prop_oneof![multibulk_cmd, inline_cmd]
    }

    /// Feeds `first`, parses, appends `second`, parses again.
    fn parse_in_two(
        first: &[u8],
        second: &[u8],
        limits: &ParseLimits,
    ) -> (Commands, Result<(), String>) {
        let mut buf = BytesMut::from(first);
        let mut out = Vec::new();
        if let Err(e) = parse_batch(&mut buf, limits, &mut out) {
            return (to_vecs(out), Err(e.0));
        }
        buf.extend_from_slice(second);
        let result = parse_batch(&mut buf, limits, &mut out).map_err(|e| e.0);
        (to_vecs(out), result)
    }

    proptest! {
        #[test]
        fn multibulk_round_trips(cmd in proptest::collection::vec(arg_strategy(), 1..8)) {
            let (cmds, result, rest) = parse(&multibulk(&cmd));
            prop_assert_eq!(result, Ok(()));
            prop_assert!(rest.is_empty());
            prop_assert_eq!(cmds, vec![cmd]);
        }

        #[test]
        fn pipeline_split_at_every_offset(pipeline in proptest::collection::vec(wire_command(), 1..6)) {
            let wire: Vec<u8> = pipeline.iter().flat_map(|(w, _)| w.clone()).collect();
            let expected: Commands = pipeline.into_iter().map(|(_, c)| c).collect();
            let (whole, result, rest) = parse(&wire);
            prop_assert_eq!(result, Ok(()));
            prop_assert!(rest.is_empty());
            prop_assert_eq!(&whole, &expected);
            for cut in 0..=wire.len() {
                let (split, result) = parse_in_two(&wire[..cut], &wire[cut..], &ParseLimits::default());
                prop_assert_eq!(result, Ok(()));
                prop_assert_eq!(&split, &expected, "cut at {}", cut);
            }
        }

        #[test]
        fn random_bytes_never_panic(
            input in proptest::collection::vec(any::<u8>(), 0..300),
            limits in limits_strategy(),
        ) {
            let _ = parse_with(&input, &limits);
        }

        #[test]
        fn protocol_like_bytes_parse_the_same_however_split(
            pieces in proptest::collection::vec(prop_oneof![
                Just(b"*".to_vec()), Just(b"$".to_vec()), Just(b"\r\n".to_vec()),
                Just(b"\r".to_vec()), Just(b"\n".to_vec()), Just(b"\"".to_vec()),
                Just(b"'".to_vec()), Just(b"\\".to_vec()), Just(b" ".to_vec()),
                Just(b"\0".to_vec()), "[0-9-]{1,3}".prop_map(String::into_bytes),
                proptest::collection::vec(any::<u8>(), 1..4),
            ], 0..40),
            limits in limits_strategy(),
            cut_seed in any::<usize>(),
        ) {
            let wire: Vec<u8> = pieces.concat();
            let (whole, result, _) = parse_with(&wire, &limits);
            let cut = cut_seed % (wire.len() + 1);
            let (split, split_result) = parse_in_two(&wire[..cut], &wire[cut..], &limits);
            prop_assert_eq!(split, whole);
            prop_assert_eq!(split_result, result);
        }
    }
}
