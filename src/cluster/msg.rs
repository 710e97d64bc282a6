//! The cluster bus's messages in Redis 7.0's wire format (`clusterMsg` in cluster.h): a
//! 2256-byte header, then the body of its type; every integer in network byte order.
//!
//! | offset | field                         | offset | field                      |
//! |--------|-------------------------------|--------|----------------------------|
//! | 0      | sig "RCmb"                    | 2128   | slaveof (40)               |
//! | 4      | totlen u32                    | 2168   | myip (46, NUL padded)      |
//! | 8      | ver u16 (1)                   | 2214   | extensions u16             |
//! | 10     | port u16                      | 2216   | notused (30)               |
//! | 12     | type u16                      | 2246   | pport u16                  |
//! | 14     | count u16                     | 2248   | cport u16                  |
//! | 16     | currentEpoch u64              | 2250   | flags u16                  |
//! | 24     | configEpoch u64               | 2252   | state u8                   |
//! | 32     | offset u64                    | 2253   | mflags (3)                 |
//! | 40     | sender (40)                   | 2256   | data                       |
//! | 80     | myslots (2048, bit slot%8 of byte slot/8)                           |
//!
//! PING, MEET and PONG carry `count` gossip entries of 104 bytes (nodename 40, ping_sent u32
//! and pong_received u32 in seconds, ip 46, port, cport, flags, pport, unused: u16 each), then,
//! when mflags[0] has EXT_DATA, `extensions` ping extensions (u32 length, u16 type, u16 unused,
//! data padded to 8 bytes): they are checked as Redis checks them and otherwise ignored.

use crate::shard::slot::SLOTS;

pub const PING: u16 = 0;
pub const PONG: u16 = 1;
pub const MEET: u16 = 2;
pub const FAIL: u16 = 3;
pub const PUBLISH: u16 = 4;
pub const FAILOVER_AUTH_REQUEST: u16 = 5;
pub const FAILOVER_AUTH_ACK: u16 = 6;
pub const UPDATE: u16 = 7;
pub const MFSTART: u16 = 8;
pub const PUBLISHSHARD: u16 = 10;
/// Redis's CLUSTERMSG_TYPE_COUNT: types at or above it are unknown.
pub const TYPE_COUNT: u16 = 11;

/// Each type's name in CLUSTER INFO (clusterGetMessageTypeString), by type number.
pub const TYPE_NAMES: [&str; TYPE_COUNT as usize] = [
    "ping",
    "pong",
    "meet",
    "fail",
    "publish",
    "auth-req",
    "auth-ack",
    "update",
    "mfstart",
    "module",
    "publishshard",
];

/// The header's size: `sizeof(clusterMsg) - sizeof(union clusterMsgData)`.
pub const HEADER_LEN: usize = 2256;
/// One gossip entry: `sizeof(clusterMsgDataGossip)`.
pub const GOSSIP_LEN: usize = 104;
/// `sizeof(clusterMsgDataUpdate)`: config epoch, node name, slot bitmap.
pub const UPDATE_LEN: usize = 8 + 40 + SLOTS / 8;
/// Largest message this node reads (a peer-sent length never allocates more): a PING with
/// 65535 gossip entries and room for extensions.
pub const MAX_LEN: usize = HEADER_LEN + 65535 * GOSSIP_LEN + (1 << 20);

const NAME: usize = 40;
const IP: usize = 46;
const EXT_DATA: u8 = 1 << 2;
const EXT_HEADER: usize = 8;
const EXT_HOSTNAME: u16 = 0;

/// The header's fields (totlen, type and count follow from the body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub port: u16,
    pub current_epoch: u64,
    pub config_epoch: u64,
    pub offset: u64,
    pub sender: [u8; NAME],
    pub myslots: Box<[u8; SLOTS / 8]>,
    /// All zeros for a master.
    pub slaveof: [u8; NAME],
    /// Empty unless the sender announces its IP.
    pub myip: String,
    pub pport: u16,
    pub cport: u16,
    pub flags: u16,
    /// 0 ok, 1 fail.
    pub state: u8,
    /// `mflags[0]`'s PAUSED and FORCEACK bits (EXT_DATA is the encoder's).
    pub mflags: u8,
}

impl Header {
    pub fn new(sender: &str) -> Header {
        let mut name = [0u8; NAME];
        let id = sender.as_bytes();
        name[..id.len().min(NAME)].copy_from_slice(&id[..id.len().min(NAME)]);
        Header {
            port: 0,
            current_epoch: 0,
            config_epoch: 0,
            offset: 0,
            sender: name,
            myslots: Box::new([0; SLOTS / 8]),
            slaveof: [0; NAME],
            myip: String::new(),
            pport: 0,
            cport: 0,
            flags: 0,
            state: 0,
            mflags: 0,
        }
    }

    pub fn has_slot(&self, slot: usize) -> bool {
        has_slot(&self.myslots, slot)
    }
}

pub fn has_slot(bitmap: &[u8; SLOTS / 8], slot: usize) -> bool {
    bitmap[slot / 8] & (1 << (slot & 7)) != 0
}

pub fn set_slot(bitmap: &mut [u8; SLOTS / 8], slot: usize) {
    bitmap[slot / 8] |= 1 << (slot & 7);
}

/// One gossip entry: what the sender knows of another node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gossip {
    pub name: [u8; NAME],
    /// Seconds.
    pub ping_sent: u32,
    pub pong_received: u32,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub flags: u16,
    pub pport: u16,
}

/// A message's body by type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// PING, PONG or MEET (the type) with gossip entries.
    Ping(u16, Vec<Gossip>),
    Fail([u8; NAME]),
    Update {
        config_epoch: u64,
        name: [u8; NAME],
        slots: Box<[u8; SLOTS / 8]>,
    },
    /// PUBLISH or PUBLISHSHARD (`sharded`): `clusterMsgDataPublish`'s two lengths, then the
    /// channel and the message.
    Publish {
        sharded: bool,
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    /// A type this node does not act on (failover votes, module messages).
    Other(u16),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    pub header: Header,
    pub body: Body,
}

fn put_str(out: &mut [u8], s: &str) {
    let bytes = s.as_bytes();
    let n = bytes.len().min(out.len() - 1);
    out[..n].copy_from_slice(&bytes[..n]);
}

fn get_str(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(raw)
}

/// The message's bytes, as clusterBuildMessageHdr and clusterSendPing lay them out.
pub fn encode(msg: &Msg) -> Vec<u8> {
    let h = &msg.header;
    let (kind, count, body_len) = match &msg.body {
        Body::Ping(kind, gossip) => (*kind, gossip.len(), gossip.len() * GOSSIP_LEN),
        Body::Fail(_) => (FAIL, 0, NAME),
        Body::Update { .. } => (UPDATE, 0, UPDATE_LEN),
        Body::Publish {
            sharded,
            channel,
            message,
        } => {
            let kind = if *sharded { PUBLISHSHARD } else { PUBLISH };
            (kind, 0, 8 + channel.len() + message.len())
        }
        Body::Other(kind) => (*kind, 0, 0),
    };
    let mut b = vec![0u8; HEADER_LEN + body_len];
    b[0..4].copy_from_slice(b"RCmb");
    let total = b.len() as u32;
    b[4..8].copy_from_slice(&total.to_be_bytes());
    b[8..10].copy_from_slice(&1u16.to_be_bytes());
    b[10..12].copy_from_slice(&h.port.to_be_bytes());
    b[12..14].copy_from_slice(&kind.to_be_bytes());
    b[14..16].copy_from_slice(&(count as u16).to_be_bytes());
    b[16..24].copy_from_slice(&h.current_epoch.to_be_bytes());
    b[24..32].copy_from_slice(&h.config_epoch.to_be_bytes());
    b[32..40].copy_from_slice(&h.offset.to_be_bytes());
    b[40..80].copy_from_slice(&h.sender);
    b[80..2128].copy_from_slice(&h.myslots[..]);
    b[2128..2168].copy_from_slice(&h.slaveof);
    put_str(&mut b[2168..2214], &h.myip);
    // extensions (2214) stay 0 and mflags[0] has no EXT_DATA: this node announces no
    // hostname, the one extension Redis 7.0 sends.
    b[2246..2248].copy_from_slice(&h.pport.to_be_bytes());
    b[2248..2250].copy_from_slice(&h.cport.to_be_bytes());
    b[2250..2252].copy_from_slice(&h.flags.to_be_bytes());
    b[2252] = h.state;
    b[2253] = h.mflags & !EXT_DATA;
    let data = &mut b[HEADER_LEN..];
    match &msg.body {
        Body::Ping(_, gossip) => {
            for (g, out) in gossip.iter().zip(data.chunks_exact_mut(GOSSIP_LEN)) {
                out[0..40].copy_from_slice(&g.name);
                out[40..44].copy_from_slice(&g.ping_sent.to_be_bytes());
                out[44..48].copy_from_slice(&g.pong_received.to_be_bytes());
                put_str(&mut out[48..94], &g.ip);
                out[94..96].copy_from_slice(&g.port.to_be_bytes());
                out[96..98].copy_from_slice(&g.cport.to_be_bytes());
                out[98..100].copy_from_slice(&g.flags.to_be_bytes());
                out[100..102].copy_from_slice(&g.pport.to_be_bytes());
            }
        }
        Body::Fail(name) => data.copy_from_slice(name),
        Body::Update {
            config_epoch,
            name,
            slots,
        } => {
            data[0..8].copy_from_slice(&config_epoch.to_be_bytes());
            data[8..48].copy_from_slice(name);
            data[48..].copy_from_slice(&slots[..]);
        }
        Body::Publish {
            channel, message, ..
        } => {
            data[0..4].copy_from_slice(&(channel.len() as u32).to_be_bytes());
            data[4..8].copy_from_slice(&(message.len() as u32).to_be_bytes());
            data[8..8 + channel.len()].copy_from_slice(channel);
            data[8 + channel.len()..].copy_from_slice(message);
        }
        Body::Other(_) => {}
    }
    b
}

/// What the first 8 bytes of a message say: its total length, or why the link must be
/// dropped (clusterReadHandler's checks: the signature, a length below the header's).
pub fn frame_len(head: &[u8; 8]) -> Result<usize, &'static str> {
    if &head[0..4] != b"RCmb" {
        return Err("bad signature");
    }
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if len < HEADER_LEN {
        return Err("message too short");
    }
    if len > MAX_LEN {
        return Err("message too long");
    }
    Ok(len)
}

/// Reads one whole message (`b.len()` is its totlen). None: a message Redis ignores (another
/// protocol version, a length that does not match its type and counts).
pub fn decode(b: &[u8]) -> Option<Msg> {
    if b.len() < HEADER_LEN || u32_at(b, 4) as usize != b.len() || u16_at(b, 8) != 1 {
        return None;
    }
    let kind = u16_at(b, 12);
    let count = usize::from(u16_at(b, 14));
    let mut sender = [0u8; NAME];
    sender.copy_from_slice(&b[40..80]);
    let mut myslots = Box::new([0u8; SLOTS / 8]);
    myslots.copy_from_slice(&b[80..2128]);
    let mut slaveof = [0u8; NAME];
    slaveof.copy_from_slice(&b[2128..2168]);
    let header = Header {
        port: u16_at(b, 10),
        current_epoch: u64_at(b, 16),
        config_epoch: u64_at(b, 24),
        offset: u64_at(b, 32),
        sender,
        myslots,
        slaveof,
        myip: get_str(&b[2168..2214]),
        pport: u16_at(b, 2246),
        cport: u16_at(b, 2248),
        flags: u16_at(b, 2250),
        state: b[2252],
        mflags: b[2253] & !EXT_DATA,
    };
    let data = &b[HEADER_LEN..];
    let body = match kind {
        PING | PONG | MEET => {
            let gossip_len = count * GOSSIP_LEN;
            if data.len() < gossip_len {
                return None;
            }
            let mut rest = &data[gossip_len..];
            if b[2253] & EXT_DATA != 0 {
                for _ in 0..u16_at(b, 2214) {
                    if rest.len() < EXT_HEADER {
                        return None;
                    }
                    let len = u32_at(rest, 0) as usize;
                    if len < EXT_HEADER || !len.is_multiple_of(8) || rest.len() < len {
                        return None;
                    }
                    let ext = &rest[EXT_HEADER..len];
                    if u16_at(rest, 4) == EXT_HOSTNAME && ext.last().is_none_or(|&c| c != 0) {
                        return None;
                    }
                    rest = &rest[len..];
                }
            }
            if !rest.is_empty() {
                return None;
            }
            let gossip = data[..gossip_len]
                .chunks_exact(GOSSIP_LEN)
                .map(|g| {
                    let mut name = [0u8; NAME];
                    name.copy_from_slice(&g[0..40]);
                    Gossip {
                        name,
                        ping_sent: u32_at(g, 40),
                        pong_received: u32_at(g, 44),
                        ip: get_str(&g[48..48 + IP]),
                        port: u16_at(g, 94),
                        cport: u16_at(g, 96),
                        flags: u16_at(g, 98),
                        pport: u16_at(g, 100),
                    }
                })
                .collect();
            Body::Ping(kind, gossip)
        }
        FAIL if data.len() == NAME => {
            let mut name = [0u8; NAME];
            name.copy_from_slice(data);
            Body::Fail(name)
        }
        UPDATE if data.len() == UPDATE_LEN => {
            let mut name = [0u8; NAME];
            name.copy_from_slice(&data[8..48]);
            let mut slots = Box::new([0u8; SLOTS / 8]);
            slots.copy_from_slice(&data[48..]);
            Body::Update {
                config_epoch: u64_at(data, 0),
                name,
                slots,
            }
        }
        PUBLISH | PUBLISHSHARD => {
            if data.len() < 8 {
                return None;
            }
            let channel_len = u32_at(data, 0) as usize;
            let message_len = u32_at(data, 4) as usize;
            if channel_len.checked_add(message_len)? != data.len() - 8 {
                return None;
            }
            Body::Publish {
                sharded: kind == PUBLISHSHARD,
                channel: data[8..8 + channel_len].to_vec(),
                message: data[8 + channel_len..].to_vec(),
            }
        }
        FAIL | UPDATE => return None,
        other => Body::Other(other),
    };
    Some(Msg { header, body })
}

#[cfg(test)]
mod tests {
    #[test]
    fn publish_round_trips_at_redis_offsets() {
        let msg = super::Msg {
            header: super::Header::new(&"a".repeat(40)),
            body: super::Body::Publish {
                sharded: true,
                channel: b"ch".to_vec(),
                message: b"hello".to_vec(),
            },
        };
        let b = super::encode(&msg);
        // totlen = header + sizeof(clusterMsgDataPublish) - 8 + 2 + 5.
        assert_eq!(b.len(), super::HEADER_LEN + 8 + 7);
        assert_eq!(&b[12..14], &10u16.to_be_bytes());
        assert_eq!(
            &b[super::HEADER_LEN..super::HEADER_LEN + 8],
            &[0, 0, 0, 2, 0, 0, 0, 5]
        );
        assert_eq!(&b[super::HEADER_LEN + 8..], b"chhello");
        assert_eq!(super::decode(&b), Some(msg));
        // A length that does not add up is ignored, as Redis ignores it.
        let mut bad = b.clone();
        bad[super::HEADER_LEN + 3] = 3;
        assert_eq!(super::decode(&bad), None);
    }

    use super::*;

    fn header() -> Header {
        let mut h = Header::new(&"a".repeat(40));
        h.port = 7000;
        h.current_epoch = 0x0102030405060708;
        h.config_epoch = 9;
        h.offset = 10;
        set_slot(&mut h.myslots, 0);
        set_slot(&mut h.myslots, 16383);
        set_slot(&mut h.myslots, 9);
        h.slaveof = [b'b'; 40];
        h.myip = "10.0.0.1".into();
        h.pport = 1;
        h.cport = 17000;
        h.flags = 0x0211;
        h.state = 1;
        h
    }

    #[test]
    fn header_fields_sit_at_cluster_h_offsets() {
        let msg = Msg {
            header: header(),
            body: Body::Other(5),
        };
        let b = encode(&msg);
        assert_eq!(b.len(), 2256);
        assert_eq!(&b[0..4], b"RCmb");
        assert_eq!(&b[4..8], &2256u32.to_be_bytes());
        assert_eq!(&b[8..10], &[0, 1]);
        assert_eq!(&b[10..12], &7000u16.to_be_bytes());
        assert_eq!(&b[12..14], &[0, 5]);
        assert_eq!(&b[14..16], &[0, 0]);
        assert_eq!(&b[16..24], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[24..32], &9u64.to_be_bytes());
        assert_eq!(&b[32..40], &10u64.to_be_bytes());
        assert_eq!(&b[40..80], "a".repeat(40).as_bytes());
        // Slot 0: bit 0 of byte 0; slot 9: bit 1 of byte 1; slot 16383: bit 7 of byte 2047.
        assert_eq!(b[80], 1);
        assert_eq!(b[81], 2);
        assert_eq!(b[80 + 2047], 0x80);
        assert_eq!(&b[2128..2168], &[b'b'; 40]);
        assert_eq!(&b[2168..2176], b"10.0.0.1");
        assert!(b[2176..2214].iter().all(|&c| c == 0));
        assert_eq!(&b[2214..2216], &[0, 0]);
        assert_eq!(&b[2246..2248], &[0, 1]);
        assert_eq!(&b[2248..2250], &17000u16.to_be_bytes());
        assert_eq!(&b[2250..2252], &[0x02, 0x11]);
        assert_eq!(b[2252], 1);
        assert_eq!(&b[2253..2256], &[0, 0, 0]);
        assert_eq!(decode(&b), Some(msg));
    }

    #[test]
    fn gossip_entries_follow_the_header() {
        let g = Gossip {
            name: [b'c'; 40],
            ping_sent: 3,
            pong_received: 4,
            ip: "127.0.0.1".into(),
            port: 7001,
            cport: 17001,
            flags: 1,
            pport: 0,
        };
        let msg = Msg {
            header: header(),
            body: Body::Ping(PING, vec![g.clone(), g]),
        };
        let b = encode(&msg);
        assert_eq!(b.len(), 2256 + 2 * 104);
        assert_eq!(&b[14..16], &[0, 2]);
        let e = &b[2256 + 104..];
        assert_eq!(&e[0..40], &[b'c'; 40]);
        assert_eq!(&e[40..44], &[0, 0, 0, 3]);
        assert_eq!(&e[44..48], &[0, 0, 0, 4]);
        assert_eq!(&e[48..57], b"127.0.0.1");
        assert_eq!(&e[94..96], &7001u16.to_be_bytes());
        assert_eq!(&e[96..98], &17001u16.to_be_bytes());
        assert_eq!(&e[98..100], &[0, 1]);
        assert_eq!(decode(&b), Some(msg));
    }

    #[test]
    fn extensions_are_checked_and_skipped_and_lengths_must_match() {
        let msg = Msg {
            header: header(),
            body: Body::Ping(PONG, Vec::new()),
        };
        let mut b = encode(&msg);
        // A hostname extension: length 16, type 0, "host\0" padded to 8.
        b.extend_from_slice(&16u32.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(b"host\0\0\0\0");
        b[2214..2216].copy_from_slice(&1u16.to_be_bytes());
        b[2253] = EXT_DATA;
        let len = b.len() as u32;
        b[4..8].copy_from_slice(&len.to_be_bytes());
        assert_eq!(decode(&b), Some(msg));
        // Without its NUL the hostname is refused, as is a length off by one.
        b[2256 + 12] = b'x';
        b[2256 + 15] = b'x';
        assert_eq!(decode(&b), None);
        let mut short = encode(&Msg {
            header: header(),
            body: Body::Fail([b'd'; 40]),
        });
        short.pop();
        let len = short.len() as u32;
        short[4..8].copy_from_slice(&len.to_be_bytes());
        assert_eq!(decode(&short), None);
        assert_eq!(frame_len(b"RCmb\0\0\0\x10"), Err("message too short"));
        assert_eq!(frame_len(b"XXXX\0\0\x08\xd0"), Err("bad signature"));
        assert_eq!(frame_len(b"RCmb\0\0\x08\xd0"), Ok(2256));
        assert_eq!(frame_len(b"RCmb\xff\xff\xff\xff"), Err("message too long"));
    }

    #[test]
    fn update_and_fail_bodies() {
        let mut slots = Box::new([0u8; SLOTS / 8]);
        set_slot(&mut slots, 100);
        let msg = Msg {
            header: header(),
            body: Body::Update {
                config_epoch: 7,
                name: [b'e'; 40],
                slots,
            },
        };
        let b = encode(&msg);
        assert_eq!(b.len(), 2256 + 2096);
        assert_eq!(&b[12..14], &[0, 7]);
        assert_eq!(&b[2256..2264], &7u64.to_be_bytes());
        assert_eq!(b[2256 + 48 + 12], 1 << 4);
        assert_eq!(decode(&b), Some(msg));
        let fail = encode(&Msg {
            header: header(),
            body: Body::Fail([b'f'; 40]),
        });
        assert_eq!(fail.len(), 2296);
        assert_eq!(&fail[2256..], &[b'f'; 40]);
    }
}
