//! Security: AUTH / requirepass, ACL users and denials, ACL LOG, the ACL file, protected mode,
//! pre-auth limits, and clients that flood without reading. Exact reply bytes throughout.

use crate::common;

use common::{assert_scripts_match_redis, Raw, Server};

const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";
const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const OK: &[u8] = b"+OK\r\n";

fn ask(raw: &mut Raw, args: &[&[u8]]) -> Vec<u8> {
    raw.cmd(args);
    raw.reply()
}

fn bulk(text: &str) -> Vec<u8> {
    format!("${}\r\n{text}\r\n", text.len()).into_bytes()
}

#[test]
fn requirepass_and_auth() {
    for backend in common::backends() {
        let server = Server::start(2, backend, &["--requirepass", "foobar"]);
        let mut c = server.raw();
        assert_eq!(ask(&mut c, &[b"SET", b"foo", b"bar"]), NOAUTH);
        assert_eq!(ask(&mut c, &[b"PING"]), NOAUTH);
        assert_eq!(
            ask(&mut c, &[b"NOSUCH"]),
            b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n"
        );
        assert_eq!(ask(&mut c, &[b"AUTH", b"wrong!"]), WRONGPASS);
        assert_eq!(
            ask(&mut c, &[b"AUTH", b"a", b"b", b"c"]),
            b"-ERR syntax error\r\n"
        );
        assert_eq!(ask(&mut c, &[b"AUTH", b"nosuchuser", b"foobar"]), WRONGPASS);
        assert_eq!(ask(&mut c, &[b"AUTH", b"foobar"]), OK);
        assert_eq!(ask(&mut c, &[b"SET", b"foo", b"100"]), OK);
        assert_eq!(ask(&mut c, &[b"INCR", b"foo"]), b":101\r\n");
        assert_eq!(
            ask(&mut c, &[b"CONFIG", b"GET", b"requirepass"]),
            b"*2\r\n$11\r\nrequirepass\r\n$6\r\nfoobar\r\n"
        );

        let mut h = server.raw();
        assert_eq!(
            ask(&mut h, &[b"HELLO", b"3"]),
            b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"
        );
        assert_eq!(
            ask(&mut h, &[b"HELLO", b"3", b"AUTH", b"default", b"nope"]),
            WRONGPASS
        );
        let hello = ask(&mut h, &[b"HELLO", b"3", b"AUTH", b"default", b"foobar"]);
        assert!(hello.starts_with(b"%7\r\n$6\r\nserver\r\n"), "{hello:?}");
        assert_eq!(ask(&mut h, &[b"GET", b"foo"]), bulk("101"));

        // QUIT and RESET need no AUTH; RESET logs the connection out again.
        assert_eq!(ask(&mut h, &[b"RESET"]), b"+RESET\r\n");
        assert_eq!(ask(&mut h, &[b"GET", b"foo"]), NOAUTH);

        // A binary password, then no password at all: new connections need no AUTH.
        assert_eq!(
            ask(&mut c, &[b"CONFIG", b"SET", b"requirepass", b"abc\x00def"]),
            OK
        );
        let mut b = server.raw();
        assert_eq!(ask(&mut b, &[b"AUTH", b"abc"]), WRONGPASS);
        assert_eq!(ask(&mut b, &[b"AUTH", b"abc\x00def"]), OK);
        assert_eq!(ask(&mut c, &[b"CONFIG", b"SET", b"requirepass", b""]), OK);
        let mut open = server.raw();
        assert_eq!(ask(&mut open, &[b"GET", b"foo"]), bulk("101"));
        assert_eq!(
            ask(&mut open, &[b"AUTH", b"foo"]),
            b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
        );
        assert_eq!(ask(&mut open, &[b"QUIT"]), OK);
        assert!(open.closed());
    }
}

fn admin_and_user(server: &Server, rules: &[&[u8]]) -> (Raw, Raw) {
    let mut admin = server.raw();
    let mut cmd: Vec<&[u8]> = vec![b"ACL", b"SETUSER", b"lim", b"on", b">pw"];
    cmd.extend_from_slice(rules);
    assert_eq!(ask(&mut admin, &cmd), OK);
    let mut user = server.raw();
    assert_eq!(ask(&mut user, &[b"AUTH", b"lim", b"pw"]), OK);
    (admin, user)
}

#[test]
fn acl_users_and_denials() {
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        let (mut admin, mut u) = admin_and_user(
            &server,
            &[b"-@all", b"+get", b"+set", b"+publish", b"~k*", b"&ch*"],
        );
        assert_eq!(
            ask(&mut u, &[b"ACL", b"WHOAMI"]),
            b"-NOPERM this user has no permissions to run the 'acl|whoami' command\r\n"
        );
        assert_eq!(ask(&mut u, &[b"SET", b"k1", b"v"]), OK);
        assert_eq!(ask(&mut u, &[b"GET", b"k1"]), bulk("v"));
        assert_eq!(
            ask(&mut u, &[b"GET", b"x"]),
            b"-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
        );
        assert_eq!(
            ask(&mut u, &[b"DEL", b"k1"]),
            b"-NOPERM this user has no permissions to run the 'del' command\r\n"
        );
        assert_eq!(
            ask(&mut u, &[b"PUBLISH", b"other", b"m"]),
            b"-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"
        );
        assert_eq!(ask(&mut u, &[b"PUBLISH", b"ch1", b"m"]), b":0\r\n");

        assert_eq!(
            ask(&mut admin, &[b"ACL", b"LIST"]),
            b"*2\r\n$34\r\nuser default on nopass ~* &* +@all\r\n$125\r\nuser lim on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~k* resetchannels &ch* -@all +get +set +publish\r\n".to_vec()
        );
        assert_eq!(
            ask(&mut admin, &[b"ACL", b"USERS"]),
            b"*2\r\n$7\r\ndefault\r\n$3\r\nlim\r\n"
        );
        assert_eq!(ask(&mut admin, &[b"ACL", b"WHOAMI"]), bulk("default"));

        // ACL LOG: newest first; one entry per (reason, object, user), counted.
        assert_eq!(
            ask(&mut u, &[b"GET", b"x"]),
            b"-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
        );
        let log = ask(&mut admin, &[b"ACL", b"LOG", b"1"]);
        let text = String::from_utf8_lossy(&log);
        assert!(
            text.starts_with("*1\r\n*14\r\n$5\r\ncount\r\n:2\r\n$6\r\nreason\r\n$3\r\nkey\r\n$7\r\ncontext\r\n$8\r\ntoplevel\r\n$6\r\nobject\r\n$1\r\nx\r\n$8\r\nusername\r\n$3\r\nlim\r\n$11\r\nage-seconds\r\n"),
            "{text}"
        );
        assert!(text.contains("user=lim"), "{text}");
        let all = String::from_utf8_lossy(&ask(&mut admin, &[b"ACL", b"LOG"])).into_owned();
        assert!(all.starts_with("*4\r\n"), "{all}");
        for object in ["$5\r\nother", "$3\r\ndel", "$10\r\nacl|whoami"] {
            assert!(all.contains(object), "{object} in {all}");
        }
        assert_eq!(ask(&mut admin, &[b"ACL", b"LOG", b"RESET"]), OK);
        assert_eq!(ask(&mut admin, &[b"ACL", b"LOG"]), b"*0\r\n");
        assert_eq!(ask(&mut admin, &[b"AUTH", b"lim", b"bad"]), WRONGPASS);
        let log = String::from_utf8_lossy(&ask(&mut admin, &[b"ACL", b"LOG"])).into_owned();
        assert!(
            log.contains("$6\r\nreason\r\n$4\r\nauth\r\n$7\r\ncontext\r\n$8\r\ntoplevel\r\n$6\r\nobject\r\n$4\r\nAUTH\r\n$8\r\nusername\r\n$3\r\nlim\r\n"),
            "{log}"
        );

        // MULTI: a refused command is answered NOPERM and the transaction aborts.
        assert_eq!(ask(&mut u, &[b"SET", b"k2", b"v"]), OK);
        let mut admin2 = server.raw();
        assert_eq!(
            ask(
                &mut admin2,
                &[b"ACL", b"SETUSER", b"lim", b"+multi", b"+exec"]
            ),
            OK
        );
        assert_eq!(ask(&mut u, &[b"MULTI"]), OK);
        assert_eq!(ask(&mut u, &[b"SET", b"k3", b"v"]), b"+QUEUED\r\n");
        assert_eq!(
            ask(&mut u, &[b"INCR", b"k3"]),
            b"-NOPERM this user has no permissions to run the 'incr' command\r\n"
        );
        assert_eq!(
            ask(&mut u, &[b"EXEC"]),
            b"-EXECABORT Transaction discarded because of previous errors.\r\n"
        );

        // A user switched off keeps its connections but cannot log in; deleting it disconnects.
        assert_eq!(ask(&mut admin, &[b"ACL", b"SETUSER", b"lim", b"off"]), OK);
        let mut other = server.raw();
        assert_eq!(ask(&mut other, &[b"AUTH", b"lim", b"pw"]), WRONGPASS);
        assert_eq!(ask(&mut u, &[b"GET", b"k1"]), bulk("v"));
        assert_eq!(
            ask(&mut admin, &[b"ACL", b"DELUSER", b"default"]),
            b"-ERR The 'default' user cannot be removed\r\n"
        );
        assert_eq!(
            ask(&mut admin, &[b"ACL", b"DELUSER", b"lim", b"nosuch"]),
            b":1\r\n"
        );
        assert!(u.closed());
        assert_eq!(ask(&mut admin, &[b"ACL", b"GETUSER", b"lim"]), b"$-1\r\n");
    }
}

#[test]
fn acl_categories_and_subcommands() {
    let server = Server::start(2, "epoll", &[]);
    let (mut admin, mut u) = admin_and_user(
        &server,
        &[
            b"nopass",
            b"+@all",
            b"-@dangerous",
            b"allkeys",
            b"allchannels",
        ],
    );
    assert_eq!(ask(&mut u, &[b"SET", b"a", b"1"]), OK);
    assert_eq!(
        ask(&mut u, &[b"FLUSHALL"]),
        b"-NOPERM this user has no permissions to run the 'flushall' command\r\n"
    );
    assert_eq!(
        ask(&mut u, &[b"CONFIG", b"SET", b"timeout", b"0"]),
        b"-NOPERM this user has no permissions to run the 'config|set' command\r\n"
    );
    assert_eq!(ask(&mut u, &[b"CLIENT", b"SETNAME", b"x"]), OK);
    assert_eq!(ask(&mut u, &[b"AUTH", b"lim", b"whatever"]), OK);
    assert_eq!(
        ask(&mut admin, &[b"ACL", b"SETUSER", b"lim", b"+config|get"]),
        OK
    );
    assert_eq!(
        ask(&mut u, &[b"CONFIG", b"GET", b"timeout"]),
        b"*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n"
    );
    let rules = ask(&mut admin, &[b"ACL", b"GETUSER", b"lim"]);
    let text = String::from_utf8_lossy(&rules);
    assert!(text.contains("+@all -@dangerous"), "{text}");
    assert!(text.contains("+config|get"), "{text}");
    assert_eq!(
        ask(&mut admin, &[b"ACL", b"CAT", b"nosuch"]),
        b"-ERR Unknown category 'nosuch'\r\n"
    );
    let cat = ask(&mut admin, &[b"ACL", b"CAT"]);
    assert!(cat.starts_with(b"*21\r\n$8\r\nkeyspace\r\n$4\r\nread\r\n"));
    let strings =
        String::from_utf8_lossy(&ask(&mut admin, &[b"ACL", b"CAT", b"string"])).into_owned();
    assert!(strings.contains("\r\nincrbyfloat\r\n") && !strings.contains("\r\nlpush\r\n"));
}

#[test]
fn acl_texts_match_redis() {
    assert_scripts_match_redis(&[&[
        "ACL SETUSER alice on >pw +@all -@dangerous ~foo* &ch*",
        "ACL GETUSER alice",
        "ACL SETUSER bob",
        "ACL GETUSER bob",
        "ACL SETUSER bob reset",
        "ACL GETUSER bob",
        "ACL SETUSER bob +nosuch",
        "ACL SETUSER bob #abc",
        "ACL SETUSER bob foo",
        "ACL SETUSER bob allkeys ~x",
        "ACL SETUSER bob allchannels &x",
        "ACL SETUSER bob <nopw",
        "ACL SETUSER bob %X~x",
        "ACL SETUSER \"b b\"",
        "ACL SETUSER carol on nopass -@all +get ~k* %R~r* %W~w*",
        "ACL GETUSER carol",
        "ACL GETUSER nosuch",
        "ACL DELUSER default",
        "ACL DELUSER alice bob carol nosuch",
        "ACL CAT nosuch",
        "ACL WHOAMI",
        "ACL SAVE",
        "ACL LOAD",
        "ACL NOSUCH",
        "ACL SETUSER",
        "ACL GENPASS 0",
        "AUTH x",
        "AUTH a b c",
        "AUTH nosuch pw",
    ]]);
}

#[test]
fn aclfile_save_and_load() {
    let dir = std::env::temp_dir().join(format!("ringkv-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users.acl");
    std::fs::write(
        &path,
        "user default on nopass ~* &* +@all\nuser bob on >pw ~b* -@all +get\n",
    )
    .unwrap();
    let server = Server::start(2, "epoll", &["--aclfile", path.to_str().unwrap()]);
    let mut c = server.raw();
    assert_eq!(ask(&mut c, &[b"AUTH", b"bob", b"pw"]), OK);
    assert_eq!(ask(&mut c, &[b"AUTH", b"default", b"x"]), OK);
    assert_eq!(
        ask(
            &mut c,
            &[
                b"ACL",
                b"SETUSER",
                b"carol",
                b"on",
                b"#30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4",
                b"+@read",
                b"~*"
            ]
        ),
        OK
    );
    assert_eq!(ask(&mut c, &[b"ACL", b"SAVE"]), OK);
    let saved = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        saved,
        "user bob on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~b* resetchannels -@all +get\n\
         user carol on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~* resetchannels -@all +@read\n\
         user default on nopass ~* &* +@all\n"
    );
    // Edit the file by hand and load it back; a bad file changes nothing.
    std::fs::write(
        &path,
        "user default on nopass ~* &* +@all\nuser dave on nopass +ping\n",
    )
    .unwrap();
    let mut bob = server.raw();
    assert_eq!(ask(&mut bob, &[b"AUTH", b"bob", b"pw"]), OK);
    assert_eq!(ask(&mut c, &[b"ACL", b"LOAD"]), OK);
    assert!(bob.closed());
    assert_eq!(
        ask(&mut c, &[b"ACL", b"USERS"]),
        b"*2\r\n$4\r\ndave\r\n$7\r\ndefault\r\n"
    );
    std::fs::write(&path, "user x +nosuch\nfoo\n").unwrap();
    let error = ask(&mut c, &[b"ACL", b"LOAD"]);
    let p = path.to_str().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&error),
        format!("-ERR {p}:1: Error in applying operation '+nosuch': Unknown command or category name in ACL. {p}:2 should start with user keyword followed by the username. \r\n")
    );
    assert_eq!(
        ask(&mut c, &[b"ACL", b"USERS"]),
        b"*2\r\n$4\r\ndave\r\n$7\r\ndefault\r\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A non-loopback IPv4 address of this machine, if it has one (on any interface: CI adds one
/// to `lo` where the machine has none).
fn outside_address() -> Option<std::net::IpAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list it allocates, freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return None;
    }
    let mut found = None;
    let mut entry = list;
    while !entry.is_null() && found.is_none() {
        // SAFETY: `entry` is a node of the list getifaddrs returned, not yet freed; an
        // AF_INET ifa_addr points to a sockaddr_in.
        unsafe {
            let addr = (*entry).ifa_addr;
            if !addr.is_null() && (*addr).sa_family as i32 == libc::AF_INET {
                let sin = &*(addr as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() && !ip.is_unspecified() {
                    found = Some(std::net::IpAddr::V4(ip));
                }
            }
            entry = (*entry).ifa_next;
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    found
}

const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

fn connect_from_outside(ip: std::net::IpAddr, port: u16) -> Raw {
    let stream = std::net::TcpStream::connect((ip, port)).expect("connect");
    assert_eq!(stream.peer_addr().unwrap().ip(), ip);
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    Raw { stream }
}

#[test]
fn protected_mode_denies_outside_clients_without_password() {
    let Some(ip) = outside_address() else {
        common::skip("no non-loopback IPv4 address on this machine: protected mode not testable");
        return;
    };
    let bind = format!("127.0.0.1 {ip}");
    for backend in common::backends() {
        let server = Server::start(2, backend, &["--bind", &bind]);
        let mut outside = connect_from_outside(ip, server.port);
        outside.send(b"PING\r\n");
        assert_eq!(String::from_utf8_lossy(&outside.reply()), DENIED);
        assert!(outside.closed());
        let mut local = server.raw();
        assert_eq!(ask(&mut local, &[b"PING"]), b"+PONG\r\n");
        // A password for the default user lifts protected mode.
        assert_eq!(
            ask(&mut local, &[b"CONFIG", b"SET", b"requirepass", b"pw"]),
            OK
        );
        let mut outside = connect_from_outside(ip, server.port);
        assert_eq!(ask(&mut outside, &[b"PING"]), NOAUTH);
        assert_eq!(ask(&mut outside, &[b"AUTH", b"pw"]), OK);
        assert_eq!(ask(&mut outside, &[b"PING"]), b"+PONG\r\n");
        // So does protected-mode no.
        assert_eq!(
            ask(&mut outside, &[b"CONFIG", b"SET", b"requirepass", b""]),
            OK
        );
        let mut denied = connect_from_outside(ip, server.port);
        assert_eq!(String::from_utf8_lossy(&denied.reply()), DENIED);
        assert_eq!(
            ask(&mut local, &[b"CONFIG", b"SET", b"protected-mode", b"no"]),
            OK
        );
        let mut outside = connect_from_outside(ip, server.port);
        assert_eq!(ask(&mut outside, &[b"PING"]), b"+PONG\r\n");
    }
}

#[test]
fn pre_auth_limits() {
    for backend in common::backends() {
        let server = Server::start(2, backend, &["--requirepass", "foobar"]);
        let mut c = server.raw();
        c.send(b"*100\r\n");
        assert_eq!(
            c.reply(),
            b"-ERR Protocol error: unauthenticated multibulk length\r\n"
        );
        assert!(c.closed());
        let mut c = server.raw();
        c.send(b"*1\r\n$100000000\r\n");
        assert_eq!(
            c.reply(),
            b"-ERR Protocol error: unauthenticated bulk length\r\n"
        );
        assert!(c.closed());
        // Within the limits an unauthenticated command is parsed and refused.
        let mut c = server.raw();
        let big = vec![b'x'; 16384];
        c.cmd(&[b"ECHO", &big]);
        assert_eq!(c.reply(), NOAUTH);
        // The limits end with the AUTH before them, even in the same packet.
        let big = vec![b'y'; 100_000];
        let mut packet = common::encode(&[b"AUTH", b"foobar"]);
        packet.extend(common::encode(&[b"ECHO", &big]));
        let keys: Vec<&[u8]> = std::iter::once(&b"DEL"[..])
            .chain(std::iter::repeat_n(&b"k"[..], 20))
            .collect();
        packet.extend(common::encode(&keys));
        c.send(&packet);
        assert_eq!(c.reply(), OK);
        let mut expected = format!("${}\r\n", big.len()).into_bytes();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(c.reply(), expected);
        assert_eq!(c.reply(), b":0\r\n");
    }
}

#[test]
fn unauthenticated_flood_without_reading_is_cut_off() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    for backend in common::backends() {
        let server = Server::start(2, backend, &["--requirepass", "foobar"]);
        let mut flood = server.raw();
        flood
            .stream
            .set_write_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let chunk: Vec<u8> = b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n5\r\n".repeat(2000);
        let mut written = 0usize;
        let cut = loop {
            match flood.stream.write_all(&chunk) {
                Ok(()) => written += chunk.len(),
                Err(_) => break true,
            }
            if written > 512 << 20 {
                break false;
            }
        };
        assert!(
            cut,
            "[{backend}] a non-reading unauthenticated client was never cut off"
        );
        let mut other = server.raw();
        let start = Instant::now();
        assert_eq!(ask(&mut other, &[b"AUTH", b"foobar"]), OK);
        assert_eq!(ask(&mut other, &[b"PING"]), b"+PONG\r\n");
        assert!(start.elapsed() < Duration::from_secs(1));
        let info = String::from_utf8_lossy(&ask(&mut other, &[b"INFO", b"clients"])).into_owned();
        assert!(info.contains("connected_clients:1\r\n"), "{info}");
    }
}

#[test]
fn bulk_and_query_buffer_limits() {
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        let mut c = server.raw();
        assert_eq!(
            ask(&mut c, &[b"CONFIG", b"SET", b"proto-max-bulk-len", b"1mb"]),
            OK
        );
        c.send(b"*2\r\n$4\r\nECHO\r\n$2000000\r\n");
        assert_eq!(c.reply(), b"-ERR Protocol error: invalid bulk length\r\n");
        assert!(c.closed());
        let mut c = server.raw();
        assert_eq!(
            ask(
                &mut c,
                &[
                    b"CONFIG",
                    b"SET",
                    b"client-query-buffer-limit",
                    b"1mb",
                    b"proto-max-bulk-len",
                    b"10mb"
                ]
            ),
            OK
        );
        // A bulk within proto-max-bulk-len but beyond the query buffer limit closes the client.
        c.send(b"*2\r\n$4\r\nECHO\r\n$5000000\r\n");
        let filler = vec![b'z'; 64 * 1024];
        let mut sent = 0;
        while sent < 3 << 20 && c.stream_write(&filler) {
            sent += filler.len();
        }
        assert!(c.closed());
        let mut d = server.raw();
        assert_eq!(ask(&mut d, &[b"PING"]), b"+PONG\r\n");
    }
}

#[test]
fn tcp_keepalive_is_set_on_accepted_sockets() {
    let server = Server::start(1, "epoll", &["--tcp-keepalive", "77"]);
    let mut c = server.raw();
    assert_eq!(ask(&mut c, &[b"PING"]), b"+PONG\r\n");
    common::require_tool("ss", "iproute2");
    let out = std::process::Command::new("ss")
        .args([
            "-tnoH",
            "state",
            "established",
            &format!("sport = :{}", server.port),
        ])
        .output()
        .expect("run ss");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("timer:(keepalive,1min"), "{text}");
}

#[test]
fn errors_never_echo_cr_or_lf() {
    let redis = common::RedisServer::start();
    let server = Server::start(2, "epoll", &[]);
    let cases: &[&[&[u8]]] = &[
        &[b"a\r\nb", b"x\ny"],
        &[b"ACL", b"SETUSER", b"u", b"+no\r\nsuch"],
        &[b"ACL", b"CAT", b"x\r\ny"],
        &[b"CONFIG", b"SET", b"no\r\nsuch", b"v"],
        &[b"CLIENT", b"x\ny"],
        &[b"AUTH", b"u\r\n", b"p"],
    ];
    let mut ours = server.raw();
    let mut theirs = Raw::connect(redis.port);
    for case in cases {
        let want = ask(&mut theirs, case);
        let got = ask(&mut ours, case);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{case:?}"
        );
        assert!(!got[..got.len() - 2].contains(&b'\n') && !got[..got.len() - 2].contains(&b'\r'));
    }
}
