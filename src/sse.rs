//! Incremental Server-Sent Events framing over `Bytes`.
//!
//! Upstream reads are not events: an event may span reads and a read may hold many events. The
//! framer hands out whole events as slices of the input (no copy) and keeps only the unfinished
//! tail, bounded by `max_event`.

use bytes::{Bytes, BytesMut};
use memchr::memchr_iter;
use std::borrow::Cow;

/// An event grew past the limit; its bytes so far are handed back so nothing is silently lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTooLarge {
    pub limit: usize,
    pub discarded: Bytes,
}

#[derive(Debug)]
pub struct SseFramer {
    pending: BytesMut,
    /// Where to resume scanning in `pending`: bytes before it hold no event end.
    scanned: usize,
    max_event: usize,
}

/// Offset just past the blank line that ends the first event in `buf[from..]`, if complete.
/// Accepts `\n\n`, `\r\n\r\n` and mixed endings.
fn event_end(buf: &[u8], from: usize) -> Option<usize> {
    for i in memchr_iter(b'\n', &buf[from..]) {
        let i = from + i;
        match buf.get(i + 1) {
            Some(b'\n') => return Some(i + 2),
            Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => return Some(i + 3),
            _ => {}
        }
    }
    None
}

impl SseFramer {
    pub fn new(max_event: usize) -> Self {
        Self {
            pending: BytesMut::new(),
            scanned: 0,
            max_event,
        }
    }

    /// Feed one read; `on_event` gets each complete event, terminator included.
    pub fn push(
        &mut self,
        chunk: &Bytes,
        mut on_event: impl FnMut(Bytes),
    ) -> Result<(), EventTooLarge> {
        let mut rest = chunk.clone();
        if !self.pending.is_empty() {
            // Finish the event in progress first; only its bytes are copied.
            let resume = self.scanned.saturating_sub(2);
            self.pending.extend_from_slice(&rest);
            match event_end(&self.pending, resume) {
                None => {
                    self.scanned = self.pending.len();
                    return self.check_limit();
                }
                Some(end) => {
                    let consumed_from_chunk = end - (self.pending.len() - rest.len());
                    self.pending.truncate(end);
                    on_event(self.pending.split().freeze());
                    self.scanned = 0;
                    rest = rest.slice(consumed_from_chunk..);
                }
            }
        }
        let mut at = 0;
        while let Some(end) = event_end(&rest, at) {
            on_event(rest.slice(at..end));
            at = end;
        }
        if at < rest.len() {
            self.pending.extend_from_slice(&rest[at..]);
            self.scanned = self.pending.len();
            return self.check_limit();
        }
        Ok(())
    }

    /// Feed one read and return its complete events, for callers that handle them with `&mut`
    /// access to the struct that owns the framer.
    pub fn push_collect(&mut self, chunk: &Bytes) -> (Vec<Bytes>, Result<(), EventTooLarge>) {
        let mut events = Vec::new();
        let framed = self.push(chunk, |e| events.push(e));
        (events, framed)
    }

    fn check_limit(&mut self) -> Result<(), EventTooLarge> {
        if self.pending.len() > self.max_event {
            self.scanned = 0;
            return Err(EventTooLarge {
                limit: self.max_event,
                discarded: self.pending.split().freeze(),
            });
        }
        Ok(())
    }

    /// At end of stream: the unterminated last event, if any (a stream may end without the blank
    /// line).
    pub fn finish(&mut self) -> Option<Bytes> {
        self.scanned = 0;
        let rest = self.pending.split().freeze();
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest)
    }

    /// The unfinished event's bytes so far (still held for framing).
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// The `data` payload of one event: its `data:` lines joined with `\n` (a single line is borrowed).
pub fn event_data(event: &[u8]) -> Option<Cow<'_, [u8]>> {
    let mut found: Option<Cow<[u8]>> = None;
    for line in event.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(v) = line.strip_prefix(b"data:") else {
            continue;
        };
        let v = v.strip_prefix(b" ").unwrap_or(v);
        found = Some(match found {
            None => Cow::Borrowed(v),
            Some(prev) => {
                let mut joined = prev.into_owned();
                joined.push(b'\n');
                joined.extend_from_slice(v);
                Cow::Owned(joined)
            }
        });
    }
    found
}

/// The `event:` name of one event, if it has one.
pub fn event_name(event: &[u8]) -> Option<&[u8]> {
    event.split(|&b| b == b'\n').find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.strip_prefix(b"event:")
            .map(|v| v.strip_prefix(b" ").unwrap_or(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b"data: {\"a\":\"\xc3\xa9\xe2\x9c\x93\"}\n\nevent: x\r\ndata: 1\r\ndata: 2\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n";

    fn frame_all(chunks: &[&[u8]]) -> (Vec<Bytes>, Option<Bytes>) {
        let mut f = SseFramer::new(1 << 20);
        let mut out = Vec::new();
        for c in chunks {
            f.push(&Bytes::copy_from_slice(c), |e| out.push(e)).unwrap();
        }
        let tail = f.finish();
        (out, tail)
    }

    fn expected() -> Vec<&'static [u8]> {
        vec![
            &b"data: {\"a\":\"\xc3\xa9\xe2\x9c\x93\"}\n\n"[..],
            &b"event: x\r\ndata: 1\r\ndata: 2\r\n\r\n"[..],
            &b": keep-alive\n\n"[..],
            &b"data: [DONE]\n\n"[..],
        ]
    }

    #[test]
    fn whole_stream_in_one_read() {
        let (ev, tail) = frame_all(&[STREAM]);
        assert_eq!(ev, expected());
        assert!(tail.is_none());
    }

    #[test]
    fn every_split_offset_gives_the_same_events() {
        for i in 0..=STREAM.len() {
            let (ev, tail) = frame_all(&[&STREAM[..i], &STREAM[i..]]);
            assert_eq!(ev, expected(), "split at {i}");
            assert!(tail.is_none());
        }
    }

    #[test]
    fn every_pair_of_split_offsets_gives_the_same_events() {
        for i in 0..=STREAM.len() {
            for j in i..=STREAM.len() {
                let (ev, _) = frame_all(&[&STREAM[..i], &STREAM[i..j], &STREAM[j..]]);
                assert_eq!(ev, expected(), "split at {i},{j}");
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let chunks: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(frame_all(&chunks).0, expected());
    }

    #[test]
    fn complete_events_are_slices_of_the_input() {
        let input = Bytes::from_static(b"data: 1\n\ndata: 2\n\n");
        let mut f = SseFramer::new(1024);
        let mut ptrs = Vec::new();
        f.push(&input, |e| ptrs.push(e.as_ptr())).unwrap();
        assert_eq!(ptrs, [input.as_ptr(), input[9..].as_ptr()]);
    }

    #[test]
    fn unterminated_tail_is_returned_at_finish() {
        let (ev, tail) = frame_all(&[b"data: 1\n\ndata: 2"]);
        assert_eq!(ev.len(), 1);
        assert_eq!(tail.unwrap(), &b"data: 2"[..]);
        let (_, tail) = frame_all(&[b"data: 1\n\n\n"]);
        assert!(tail.is_none());
    }

    #[test]
    fn oversized_event_is_an_error_not_unbounded_memory() {
        let mut f = SseFramer::new(16);
        let r = f.push(&Bytes::from_static(b"data: 0123456789abcdef"), |_| {});
        let e = r.unwrap_err();
        assert_eq!(e.limit, 16);
        assert_eq!(e.discarded, &b"data: 0123456789abcdef"[..]);
        assert!(!f.has_pending());
    }

    #[test]
    fn data_and_name() {
        assert_eq!(
            event_data(b"data: {\"x\":1}\n\n").unwrap(),
            &b"{\"x\":1}"[..]
        );
        assert_eq!(event_data(b"data:x\r\n\r\n").unwrap(), &b"x"[..]);
        assert_eq!(
            event_data(b"event: x\ndata: 1\ndata: 2\n\n").unwrap(),
            &b"1\n2"[..]
        );
        assert!(event_data(b": comment\n\n").is_none());
        assert_eq!(
            event_name(b"event: message_start\ndata: {}\n\n"),
            Some(&b"message_start"[..])
        );
        assert_eq!(event_name(b"data: {}\n\n"), None);
    }
}
