//! How events become message payloads and back: serde, in JSON or MessagePack.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The wire format of a bridge's payloads.
///
/// Pick one per bridge; every process on a subject must agree.
///
/// ```
/// use tidings::bridge::nats::Codec;
///
/// assert_eq!(Codec::default(), Codec::Json);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Codec {
    /// UTF-8 JSON (`serde_json`). The default: any NATS client reads and writes it, including
    /// a Python Haiway service (`json.loads(msg.data)`), and `nats sub` shows it as text.
    #[default]
    Json,
    /// MessagePack with named fields (`rmp-serde`, structs as maps). Smaller and faster than
    /// JSON, still self-describing, and Python reads it with `msgpack.unpackb`.
    MessagePack,
}

/// An encoding failure, from the event's `Serialize` impl or the format.
#[derive(Debug)]
pub(crate) struct EncodeError(pub(crate) String);

impl Codec {
    /// Encodes `event` at the end of `buf` and splits the result off as `Bytes`, so `buf`'s
    /// allocation is reused once the message it produced has been written out.
    pub(crate) fn encode<E: Serialize>(
        self,
        event: &E,
        buf: &mut BytesMut,
    ) -> Result<Bytes, EncodeError> {
        buf.clear();
        let result = match self {
            Codec::Json => {
                serde_json::to_writer(buf.writer(), event).map_err(|e| EncodeError(e.to_string()))
            }
            Codec::MessagePack => rmp_serde::encode::write_named(&mut buf.writer(), event)
                .map_err(|e| EncodeError(e.to_string())),
        };
        match result {
            Ok(()) => Ok(buf.split().freeze()),
            Err(e) => {
                buf.clear();
                Err(e)
            }
        }
    }

    /// Decodes one event; the error text is for the log.
    pub(crate) fn decode<E: DeserializeOwned>(self, payload: &[u8]) -> Result<E, String> {
        match self {
            Codec::Json => serde_json::from_slice(payload).map_err(|e| e.to_string()),
            Codec::MessagePack => rmp_serde::from_slice(payload).map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Order {
        id: u64,
        item: String,
    }

    #[test]
    fn both_codecs_round_trip_and_reuse_the_buffer() {
        for codec in [Codec::Json, Codec::MessagePack] {
            let mut buf = BytesMut::with_capacity(256);
            let order = Order {
                id: 7,
                item: "tea".into(),
            };
            let first = codec.encode(&order, &mut buf).unwrap();
            assert_eq!(codec.decode::<Order>(&first).unwrap(), order);
            let second = codec.encode(&order, &mut buf).unwrap();
            assert_eq!(first, second, "{codec:?} is deterministic");
        }
    }

    #[test]
    fn json_is_plain_json_with_field_names() {
        let mut buf = BytesMut::new();
        let bytes = Codec::Json
            .encode(
                &Order {
                    id: 1,
                    item: "x".into(),
                },
                &mut buf,
            )
            .unwrap();
        assert_eq!(&bytes[..], br#"{"id":1,"item":"x"}"#);
    }

    #[test]
    fn messagepack_is_smaller_and_keeps_field_names() {
        let order = Order {
            id: 300,
            item: "tea".into(),
        };
        let mut buf = BytesMut::new();
        let json = Codec::Json.encode(&order, &mut buf).unwrap();
        let mp = Codec::MessagePack.encode(&order, &mut buf).unwrap();
        assert!(mp.len() < json.len());
        // fixmap of 2, then the key "id" as a fixstr.
        assert_eq!(&mp[..4], &[0x82, 0xa2, b'i', b'd']);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in [Codec::Json, Codec::MessagePack] {
            assert!(codec.decode::<Order>(b"\xff\x00not an order").is_err());
            assert!(codec.decode::<Order>(b"").is_err());
        }
    }
}
